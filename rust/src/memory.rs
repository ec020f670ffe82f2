//! Memory budgeting: problems too large for this machine are refused before anything is allocated.
//!
//! Every large computation lists what it will hold at its peak in a [`Ledger`]: the parts it cannot
//! do without (checked, and refused with a MemoryError that itemises them and names the fix) and
//! the parts that only make it faster (taken only while they still fit). The ledger's total is the
//! computation's stated peak.

use crate::error::{CoreError, CoreResult};

/// Bytes the operating system says it can still give us, if it says.
fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes in the largest binary unit that keeps the number at least 1 (as "1.50 GiB").
pub fn gib(bytes: u128) -> String {
    let units = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
    let (unit, shift) = units
        .into_iter()
        .find(|&(_, s)| bytes >= 1u128 << s)
        .unwrap_or(("bytes", 0));
    if shift == 0 {
        return format!("{bytes} bytes");
    }
    format!("{:.2} {unit}", bytes as f64 / (1u128 << shift) as f64)
}

/// What one computation will hold in memory at its peak, item by item.
#[derive(Clone, Debug)]
pub struct Ledger {
    /// The most it may use: the caller's limit or what is available, whichever is smaller
    /// (None when neither is known).
    limit: Option<u128>,
    /// Whether the limit is the caller's (for the message: the fix differs).
    capped: bool,
    items: Vec<(String, u128)>,
}

impl Ledger {
    /// A ledger against `max_bytes` (if given) and the memory available now, whichever is less.
    pub fn new(max_bytes: Option<u64>) -> Self {
        let available = available_bytes().map(u128::from);
        let cap = max_bytes.map(u128::from);
        let limit = match (cap, available) {
            (Some(c), Some(a)) => Some(c.min(a)),
            (c, a) => c.or(a),
        };
        Self {
            limit,
            capped: cap.is_some_and(|c| available.is_none_or(|a| c <= a)),
            items: Vec::new(),
        }
    }

    /// Bytes of all items so far: the stated peak.
    pub fn total(&self) -> u128 {
        self.items
            .iter()
            .fold(0u128, |s, (_, b)| s.saturating_add(*b))
    }

    fn fits(&self, extra: u128) -> bool {
        let total = self.total().saturating_add(extra);
        total <= isize::MAX as u128 && self.limit.is_none_or(|l| total <= l)
    }

    /// An item the computation cannot do without.
    pub fn need(&mut self, what: impl Into<String>, bytes: u128) {
        self.items.push((what.into(), bytes));
    }

    /// An optional item, taken only if it still fits; returns whether it was.
    pub fn want(&mut self, what: impl Into<String>, bytes: u128) -> bool {
        let fits = self.fits(0) && self.fits(bytes);
        if fits {
            self.items.push((what.into(), bytes));
        }
        fits
    }

    /// Refuses a computation whose needs exceed the limit (or the address space), with the items
    /// and `fix` in the MemoryError.
    pub fn check(&self, what: &str, fix: &str) -> CoreResult<()> {
        if self.fits(0) {
            return Ok(());
        }
        let items: Vec<String> = self
            .items
            .iter()
            .map(|(w, b)| format!("{w} {}", gib(*b)))
            .collect();
        let limit = match (self.limit, self.capped) {
            (Some(l), true) => format!("the limit of {} (max_memory)", gib(l)),
            (Some(l), false) => format!("the {} available", gib(l)),
            (None, _) => "the address space".to_string(),
        };
        Err(CoreError::Memory(format!(
            "{what} needs {} at its peak ({}), more than {limit}; {fix}",
            gib(self.total()),
            items.join(", ")
        )))
    }
}

/// Checks that `elements` values of `elem_size` bytes fit in memory; `what` and `fix` go into the
/// MemoryError so the user knows which argument to shrink and how.
pub fn ensure_fits(elements: u128, elem_size: usize, what: &str, fix: &str) -> CoreResult<()> {
    let mut ledger = Ledger::new(None);
    ledger.need("its buffers", elements.saturating_mul(elem_size as u128));
    ledger.check(what, fix)
}

/// A zero-filled vector, with allocation failure reported as MemoryError instead of an abort.
pub fn zeros<T: Clone + Default>(len: usize, what: &str) -> CoreResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        CoreError::Memory(format!(
            "could not allocate {} for {what}",
            gib((len as u128) * std::mem::size_of::<T>() as u128)
        ))
    })?;
    v.resize(len, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_refuses_needs_over_its_limit_and_skips_wants_that_do_not_fit() {
        let mut ledger = Ledger::new(Some(1000));
        ledger.need("plan", 600);
        assert!(ledger.check("solve", "fix").is_ok());
        assert!(!ledger.want("acceleration", 500), "600 + 500 > 1000");
        assert!(ledger.want("increments", 400));
        assert_eq!(ledger.total(), 1000);
        ledger.need("kernel", 1);
        let err = ledger.check("solve", "use float32").unwrap_err();
        let CoreError::Memory(msg) = err else {
            panic!("not a MemoryError")
        };
        assert!(msg.contains("plan") && msg.contains("max_memory") && msg.contains("use float32"));
    }
}
