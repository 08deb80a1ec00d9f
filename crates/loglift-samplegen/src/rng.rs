//! The seeded PRNG and the few shapes of randomness the generator needs. Every helper is total:
//! empty choices and empty ranges give a fallback instead of panicking.

/// A seeded PRNG (wyrand, via `fastrand`): the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub(crate) struct Rng(fastrand::Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// An independent generator seeded from this one (one per output lane, so lanes do not
    /// disturb each other's sequences).
    pub(crate) fn fork(&mut self) -> Self {
        Rng::new(self.0.u64(..))
    }

    /// True with probability `p` (0 never, 1 always).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.0.f64() < p
    }

    /// A number in `lo..=hi`; `lo` when the range is empty.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.0.u64(lo..=hi)
        }
    }

    /// An index below `len`; 0 when `len` is 0.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            self.0.usize(..len)
        }
    }

    /// One of `items`; `fallback` when there are none.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        items
            .get(self.index(items.len()))
            .copied()
            .unwrap_or(fallback)
    }

    /// An index drawn with the given weights; 0 when they are all 0.
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return 0;
        }
        let mut x = self.0.u64(..total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// A version-4-shaped UUID.
    pub(crate) fn uuid(&mut self) -> String {
        let x = self.0.u128(..);
        let x = (x & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        let hex = format!("{x:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            hex.get(0..8).unwrap_or_default(),
            hex.get(8..12).unwrap_or_default(),
            hex.get(12..16).unwrap_or_default(),
            hex.get(16..20).unwrap_or_default(),
            hex.get(20..32).unwrap_or_default()
        )
    }

    /// `n` decimal digits.
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| self.0.digit(10)).collect()
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| self.0.digit(16)).collect()
    }

    /// A float in `[lo, hi)`.
    pub(crate) fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.0.f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_v4_and_repeat_per_seed() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let u = a.uuid();
        assert_eq!(u, b.uuid());
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4', "{u}");
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{u}");
    }

    #[test]
    fn empty_choices_do_not_panic() {
        let mut r = Rng::new(2);
        assert_eq!(r.pick::<u8>(&[], 7), 7);
        assert_eq!(r.between(5, 5), 5);
        assert_eq!(r.between(6, 5), 6);
        assert_eq!(r.index(0), 0);
        assert_eq!(r.weighted(&[0, 0]), 0);
        assert_eq!(r.weighted(&[0, 3]), 1);
    }
}
