//! `bench-shipping-quote`: the shipping share of a cart's pricing, in process: `quote` over
//! `--zones` zones of `--options` options each (zone i covers German postcodes starting with
//! the three digits of i, plus one zone for the rest of Germany; options rate by weight bands,
//! subtotal bands or flat, as `bench-cart-pricing --shipping-zones` configures them), for
//! `--quotes` random destinations and parcels. Reports p50/p99/max in microseconds.

use agora_kernel::{Currency, Money};
use agora_shipping::{
    quote, Band, Destination, OptionKind, Parcel, Rate, ShippingOption, Zone, ZoneArea,
};
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser, Debug)]
#[command(name = "bench-shipping-quote")]
struct Args {
    #[arg(long, default_value_t = 200)]
    zones: usize,
    #[arg(long, default_value_t = 5)]
    options: usize,
    #[arg(long, default_value_t = 200_000)]
    quotes: u64,
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn band(up_to: Option<i64>, minor: i64) -> Band {
    Band {
        up_to,
        price: eur(minor),
    }
}

fn zones(args: &Args) -> anyhow::Result<Vec<Zone>> {
    let options = |n: usize| {
        (0..n)
            .map(|o| ShippingOption {
                id: format!("o{o}"),
                name: format!("Option {o}"),
                kind: OptionKind::Standard,
                rate: match o % 3 {
                    0 => Rate::Weight {
                        bands: vec![
                            band(Some(1000), 490),
                            band(Some(5000), 690),
                            band(None, 990),
                        ],
                    },
                    1 => Rate::Subtotal {
                        bands: vec![band(Some(4999), 590), band(None, 0)],
                    },
                    _ => Rate::Flat {
                        price: eur(990 + o as i64),
                    },
                },
                free_from: Some(eur(20_000)),
                min_days: 1,
                max_days: 3,
            })
            .collect::<Vec<_>>()
    };
    let area = |prefix: Option<String>| {
        ZoneArea {
            country: "DE".into(),
            region: None,
            postcode_prefix: prefix,
        }
        .normalized()
    };
    let mut zones = vec![Zone {
        id: "de".into(),
        name: "Germany".into(),
        areas: vec![area(None)?],
        options: options(1),
    }];
    for z in 0..args.zones {
        zones.push(Zone {
            id: format!("z{z}"),
            name: format!("Zone {z}"),
            areas: vec![area(Some(format!("{:03}", z % 1000)))?],
            options: options(args.options),
        });
    }
    Ok(zones)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let zones = zones(&args)?;
    let mut h = Histogram::<u64>::new(3)?;
    let mut offered = 0usize;
    // A fixed linear congruential sequence: the same destinations every run.
    let mut x: u64 = 42;
    for _ in 0..args.quotes {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let postcode = format!("{:05}", (x >> 33) % 100_000);
        let parcel = Parcel {
            weight_grams: ((x >> 20) % 8000) as i64,
            subtotal: eur(((x >> 10) % 30_000) as i64),
        };
        let started = std::time::Instant::now();
        let to = Destination::new("DE", None, Some(&postcode))?;
        let quotes = quote(&zones, &to, parcel)?;
        let ns = started.elapsed().as_nanos() as u64;
        offered += quotes.len();
        h.record(ns.max(1))?;
    }
    let us = |v: u64| v as f64 / 1000.0;
    println!(
        "{} zones × {} options (+ one country zone), {} quotes, {:.1} options offered per quote",
        args.zones,
        args.options,
        args.quotes,
        offered as f64 / args.quotes as f64
    );
    println!(
        "quote  p50={:.1} µs  p99={:.1} µs  max={:.1} µs",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max())
    );
    Ok(())
}
