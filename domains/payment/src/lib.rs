mod contract;
pub use contract::*;
