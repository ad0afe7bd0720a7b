//! Demo data, created through the same NATS commands a shopper's requests become.

use std::time::Duration;

use agora_kernel::{CommandId, Principal};
use agora_nats::{subjects, Bus, CommandEnvelope};
use serde_json::json;

/// A guest cart the seed created, so a newcomer can try it with curl.
pub struct SeededCart {
    pub cart_id: String,
    pub token: String,
}

const DEMO_SKUS: &[&str] = &[
    "TEE-BLACK-M",
    "TEE-WHITE-L",
    "MUG-CERAMIC",
    "SOCKS-WOOL-42",
    "CAP-NAVY",
];

/// Creates `carts` demo guest carts with a few items each. Deterministic for a given `seed`:
/// the same SKUs and quantities (ids and tokens are random, as they must be).
pub async fn seed_carts(bus: &Bus, carts: usize, seed: u64) -> anyhow::Result<Vec<SeededCart>> {
    let mut out = Vec::with_capacity(carts);
    for i in 0..carts {
        let token = hex_token();
        let principal = Principal::Guest {
            token_sha256: agora_cart::token_sha256(&token),
        };
        let cart_id = uuid::Uuid::new_v4().to_string();
        send(bus, "create", &cart_id, &principal, json!({})).await?;
        let lines = 1 + ((seed as usize + i) % 3);
        for l in 0..lines {
            let sku = DEMO_SKUS[(seed as usize + i * 7 + l * 3) % DEMO_SKUS.len()];
            let quantity = 1 + ((seed as usize + i + l) % 4) as i64;
            send(
                bus,
                "add_item",
                &cart_id,
                &principal,
                json!({"sku": sku, "quantity": quantity}),
            )
            .await?;
        }
        out.push(SeededCart { cart_id, token });
    }
    Ok(out)
}

async fn send(
    bus: &Bus,
    endpoint: &str,
    id: &str,
    principal: &Principal,
    command: serde_json::Value,
) -> anyhow::Result<()> {
    let envelope = CommandEnvelope {
        aggregate_id: id.to_string(),
        command_id: CommandId::new_random(),
        principal: principal.clone(),
        command,
    };
    bus.request_within::<_, serde_json::Value>(
        subjects::endpoint("cart", endpoint),
        &envelope,
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| anyhow::anyhow!("seed {endpoint}: {e}"))?;
    Ok(())
}

fn hex_token() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}
