//! What a run cost, in integer micro-USD (1 USD = 1,000,000), so sums in the
//! database are exact.
//!
//! Prices are per million tokens. The defaults are OpenAI's public list
//! prices for standard (non-batch, uncached) requests; deployments override
//! or add models with [`PriceTable::with_overrides`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The price of one model, in micro-USD per million tokens
/// (`$2.50 / 1M` is `2_500_000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok_micro_usd: i64,
    pub output_per_mtok_micro_usd: i64,
}

impl Price {
    /// A price from US dollars per million tokens (`Price::usd(2.5, 10.0)`).
    pub fn usd(input_per_mtok: f64, output_per_mtok: f64) -> Price {
        // Rounded to the micro-dollar; list prices have a few decimals at most.
        let micro = |usd: f64| (usd * 1_000_000.0).round() as i64;
        Price {
            input_per_mtok_micro_usd: micro(input_per_mtok),
            output_per_mtok_micro_usd: micro(output_per_mtok),
        }
    }
}

/// Model name → price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTable {
    prices: HashMap<String, Price>,
}

/// OpenAI list prices, USD per million tokens (input, output).
const DEFAULT_PRICES: [(&str, f64, f64); 14] = [
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("o1", 15.00, 60.00),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
];

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::empty().with_overrides(
            DEFAULT_PRICES
                .iter()
                .map(|&(m, i, o)| (m.to_owned(), Price::usd(i, o))),
        )
    }
}

impl PriceTable {
    /// A table with no prices: every cost is unknown.
    pub fn empty() -> PriceTable {
        PriceTable {
            prices: HashMap::new(),
        }
    }

    /// This table with these prices added or replaced.
    pub fn with_overrides(
        mut self,
        overrides: impl IntoIterator<Item = (String, Price)>,
    ) -> PriceTable {
        self.prices.extend(overrides);
        self
    }

    /// The price of `model`: by exact name, else without a provider prefix
    /// (`openai/gpt-4o`), else without a date suffix (`gpt-4o-2024-08-06`).
    pub fn price(&self, model: &str) -> Option<Price> {
        let exact = |m: &str| self.prices.get(m).copied();
        let unprefixed = model.rsplit_once('/').map_or(model, |(_, m)| m);
        exact(model)
            .or_else(|| exact(unprefixed))
            .or_else(|| strip_date(unprefixed).and_then(exact))
    }

    /// The cost of a call in micro-USD, rounded up; `None` when the model
    /// has no price. Negative token counts count as zero.
    pub fn cost_micro_usd(
        &self,
        model: &str,
        prompt_tokens: i64,
        completion_tokens: i64,
    ) -> Option<i64> {
        let p = self.price(model)?;
        let part =
            |tokens: i64, per_mtok: i64| i128::from(tokens.max(0)) * i128::from(per_mtok.max(0));
        let numerator = part(prompt_tokens, p.input_per_mtok_micro_usd)
            + part(completion_tokens, p.output_per_mtok_micro_usd);
        let cost = (numerator + 999_999) / 1_000_000;
        Some(i64::try_from(cost).unwrap_or(i64::MAX))
    }
}

/// `gpt-4o-2024-08-06` → `gpt-4o`.
fn strip_date(model: &str) -> Option<&str> {
    let (head, date) = model.split_at_checked(model.len().checked_sub(11)?)?;
    let d = date.as_bytes();
    let shape_ok = d[0] == b'-'
        && d[5] == b'-'
        && d[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10]
            .iter()
            .all(|&i| d[i].is_ascii_digit());
    shape_ok.then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_integer_micro_usd_rounded_up() {
        let t = PriceTable::default();
        // gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens.
        assert_eq!(t.cost_micro_usd("gpt-4o-mini", 1_000_000, 0), Some(150_000));
        assert_eq!(t.cost_micro_usd("gpt-4o-mini", 0, 1_000_000), Some(600_000));
        // 10 × 0.15 + 5 × 0.60 = 4.5 micro-USD → 5.
        assert_eq!(t.cost_micro_usd("gpt-4o-mini", 10, 5), Some(5));
        assert_eq!(t.cost_micro_usd("gpt-4o-mini", 0, 0), Some(0));
        assert_eq!(t.cost_micro_usd("gpt-4o-mini", -5, 0), Some(0));
        assert_eq!(t.cost_micro_usd("mock-echo", 10, 5), None);
    }

    #[test]
    fn snapshots_and_prefixed_names_find_their_base_price() {
        let t = PriceTable::default();
        assert_eq!(t.price("gpt-4o-2024-08-06"), t.price("gpt-4o"));
        assert_eq!(t.price("openai/gpt-4.1-mini"), t.price("gpt-4.1-mini"));
        assert_eq!(t.price("gpt-4o-mini-2024-07-18"), t.price("gpt-4o-mini"));
        assert_ne!(t.price("gpt-4o-mini"), t.price("gpt-4o"));
        assert_eq!(t.price("gpt-4o-latest"), None);
    }

    #[test]
    fn overrides_replace_and_add() {
        let t = PriceTable::default().with_overrides([
            ("gpt-4o".to_owned(), Price::usd(1.0, 2.0)),
            ("llama3".to_owned(), Price::usd(0.0, 0.0)),
        ]);
        assert_eq!(
            t.cost_micro_usd("gpt-4o", 1_000_000, 1_000_000),
            Some(3_000_000)
        );
        assert_eq!(t.cost_micro_usd("llama3", 123, 456), Some(0));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let t = PriceTable::default();
        assert!(t.cost_micro_usd("o1", i64::MAX, i64::MAX).is_some());
    }
}
