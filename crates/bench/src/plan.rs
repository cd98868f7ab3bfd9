//! Sizes and durations of each mode.

use std::time::Duration;

use crate::load::Load;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Full,
    Quick,
    /// Tiny sizes for the CI smoke test: proves every row still runs.
    Smoke,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub mode: Mode,
    pub warmup: Duration,
    pub phase: Duration,
    pub runs_small: usize,
    pub runs_large: usize,
    pub prompts_small: usize,
    pub prompts_large: usize,
    pub b7_runs: usize,
    /// A `mock-stream-{N}x{MS}ms` model: N tokens, MS apart.
    pub b7_tokens: u32,
    pub b7_interval_ms: u32,
    /// Rows of B10's CSV import.
    pub dataset_rows: usize,
    /// Cells of E1's and E2's experiment (items × 1 variant × 1 repeat).
    pub exp_cells: usize,
    /// `--experiments-only`: no seeding, no B rows; E1 (and E2) alone.
    pub experiments_only: bool,
}

impl Plan {
    pub(crate) fn new(mode: Mode) -> Plan {
        let ms = Duration::from_millis;
        match mode {
            Mode::Full => Plan {
                mode,
                warmup: ms(1_000),
                phase: ms(5_000),
                runs_small: 10_000,
                runs_large: 1_000_000,
                prompts_small: 10_000,
                prompts_large: 100_000,
                b7_runs: 1_000,
                b7_tokens: 200,
                b7_interval_ms: 50,
                dataset_rows: 100_000,
                exp_cells: 10_000,
                experiments_only: false,
            },
            Mode::Quick => Plan {
                mode,
                warmup: ms(400),
                phase: ms(1_500),
                runs_small: 10_000,
                runs_large: 100_000,
                prompts_small: 10_000,
                prompts_large: 30_000,
                b7_runs: 200,
                b7_tokens: 40,
                b7_interval_ms: 50,
                dataset_rows: 100_000,
                exp_cells: 2_000,
                experiments_only: false,
            },
            Mode::Smoke => Plan {
                mode,
                warmup: ms(100),
                phase: ms(300),
                runs_small: 300,
                runs_large: 1_500,
                prompts_small: 200,
                prompts_large: 600,
                b7_runs: 8,
                b7_tokens: 5,
                b7_interval_ms: 10,
                dataset_rows: 1_000,
                exp_cells: 64,
                experiments_only: false,
            },
        }
    }

    pub(crate) fn load(&self, concurrency: usize) -> Load {
        Load {
            concurrency,
            warmup: self.warmup,
            duration: self.phase,
        }
    }

    pub(crate) fn b7_model(&self) -> String {
        format!("mock-stream-{}x{}ms", self.b7_tokens, self.b7_interval_ms)
    }
}

/// `12345` → `12k`, `1000000` → `1M`: sizes as the table shows them.
pub(crate) fn size(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}
