//! The learning-rate schedule file of `facenet.get_learning_rate_from_file`: `epoch: lr` lines,
//! `#` starts a comment, and the rate of an epoch is that of the last line whose epoch is not
//! after it. A rate of `-` or any value ≤ 0 (the files use `-1`) means stop training there.

use std::path::Path;

use crate::error::{io_err, Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// `(first epoch, rate)` in file order; `None` is a stop.
    pub entries: Vec<(u64, Option<f64>)>,
}

impl Schedule {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text).map_err(|(line, reason)| Error::Schedule {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((e, lr)) = line.split_once(':') else {
                return Err((i + 1, format!("expected `epoch: rate`, found {line:?}")));
            };
            let epoch: u64 = e
                .trim()
                .parse()
                .map_err(|_| (i + 1, format!("epoch {:?} is not a whole number", e.trim())))?;
            let lr = lr.trim();
            let rate = if lr == "-" {
                None
            } else {
                let v: f64 = lr
                    .parse()
                    .map_err(|_| (i + 1, format!("rate {lr:?} is not a number")))?;
                (v > 0.0 && v.is_finite()).then_some(v)
            };
            entries.push((epoch, rate));
        }
        if entries.is_empty() {
            return Err((0, "no `epoch: rate` lines".into()));
        }
        Ok(Schedule { entries })
    }

    /// The rate for `epoch`, `None` to stop. Before the first line, the first line's rate.
    pub fn rate(&self, epoch: u64) -> Option<f64> {
        let mut rate = self.entries.first().and_then(|e| e.1);
        for &(e, r) in &self.entries {
            if e <= epoch {
                rate = r;
            } else {
                break;
            }
        }
        rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_schedule_format() {
        let s = Schedule::parse(
            "# Learning rate schedule\n# Maps an epoch number to a learning rate\n0:  0.05\n60: 0.005\n80: 0.0005\n91: -1\n",
        )
        .unwrap();
        assert_eq!(s.rate(0), Some(0.05));
        assert_eq!(s.rate(59), Some(0.05));
        assert_eq!(s.rate(60), Some(0.005));
        assert_eq!(s.rate(90), Some(0.0005));
        assert_eq!(s.rate(91), None);
        assert_eq!(s.rate(1000), None);
        assert_eq!(
            Schedule::parse("1: 0.1 # trailing\n").unwrap().rate(0),
            Some(0.1)
        );
        assert_eq!(Schedule::parse("0: -\n").unwrap().rate(0), None);
        assert_eq!(Schedule::parse("0 0.1").unwrap_err().0, 1);
        assert_eq!(Schedule::parse("x: 0.1").unwrap_err().0, 1);
    }
}
