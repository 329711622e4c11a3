//! Reading ahead in a batch. An event's first bytes are usually far from the previous event's
//! in memory, so each event would start with a cache miss; lazy reading touches so few bytes
//! that the miss is most of its cost. The batch loops ask for the first cache lines of the
//! event a few places ahead, so its bytes arrive while the current one is matched.

// The one `unsafe` of the crate: the prefetch instruction.
#![allow(unsafe_code)]

/// How many events ahead of the one being matched are requested.
pub(crate) const AHEAD: usize = 8;

/// How many 64-byte lines of each upcoming event are requested: enough for the top of an
/// event, where lazy reading usually finds what it needs; validating reads the rest in order,
/// which the hardware prefetcher follows by itself.
#[cfg(target_arch = "x86_64")]
const LINES: usize = 4;

/// Asks the CPU to start loading the first lines of `event` into cache; returns how many
/// lines it asked for (none on targets other than x86_64). A hint only: it changes no value
/// and never faults.
#[inline(always)]
pub(crate) fn prefetch(event: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut lines = 0;
        let mut off = 0;
        while off < event.len() && lines < LINES {
            let line = event[off..].as_ptr().cast::<i8>();
            // SAFETY: `_mm_prefetch` is `unsafe` only because it needs the SSE target
            // feature, which every x86_64 CPU has (it is in the target's baseline features).
            // The instruction is a hint: it reads nothing into any value and never faults,
            // whatever the address; `line` points into `event` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
            off += 64;
            lines += 1;
        }
        lines
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = event;
        0
    }
}

/// Yields the events of `inner` in order, prefetching each [`AHEAD`] places before it is
/// yielded. Holds at most `AHEAD` events; allocates nothing. Ends at `inner`'s first `None`,
/// as a `for` loop over it would (an iterator may yield again after a `None`).
pub(crate) struct Ahead<'e, I> {
    inner: std::iter::Fuse<I>,
    ring: [&'e [u8]; AHEAD],
    head: usize,
    /// How many of the ring's slots, from `head`, hold events not yet yielded.
    queued: usize,
}

impl<'e, I: Iterator<Item = &'e [u8]>> Ahead<'e, I> {
    pub(crate) fn new(inner: I) -> Self {
        let mut inner = inner.fuse();
        let mut ring: [&'e [u8]; AHEAD] = [&[]; AHEAD];
        let mut queued = 0;
        while queued < AHEAD {
            let Some(event) = inner.next() else { break };
            prefetch(event);
            ring[queued] = event;
            queued += 1;
        }
        Ahead {
            inner,
            ring,
            head: 0,
            queued,
        }
    }
}

impl<'e, I: Iterator<Item = &'e [u8]>> Iterator for Ahead<'e, I> {
    type Item = &'e [u8];

    #[inline]
    fn next(&mut self) -> Option<&'e [u8]> {
        if self.queued == 0 {
            return None;
        }
        let event = self.ring[self.head];
        match self.inner.next() {
            Some(next) => {
                prefetch(next);
                self.ring[self.head] = next;
            }
            None => self.queued -= 1,
        }
        self.head = (self.head + 1) % AHEAD;
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.inner.size_hint();
        (
            lo.saturating_add(self.queued),
            hi.and_then(|h| h.checked_add(self.queued)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_every_event_in_order_for_every_length() {
        for n in 0..3 * AHEAD + 2 {
            let events: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i * 37 % 300]).collect();
            let refs: Vec<&[u8]> = events.iter().map(|e| e.as_slice()).collect();
            let got: Vec<&[u8]> = Ahead::new(refs.iter().copied()).collect();
            assert_eq!(got, refs, "{n} events");
            let ahead = Ahead::new(refs.iter().copied());
            assert_eq!(ahead.size_hint(), (n, Some(n)));
        }
    }

    #[test]
    fn stops_at_the_first_none_like_a_for_loop() {
        // An iterator that yields again after a `None`.
        struct Gappy(usize);
        impl Iterator for Gappy {
            type Item = &'static [u8];
            fn next(&mut self) -> Option<&'static [u8]> {
                self.0 += 1;
                match self.0 {
                    1..=9 => Some(b"a"),
                    10 => None,
                    _ => Some(b"late"),
                }
            }
        }
        let got: Vec<&[u8]> = Ahead::new(Gappy(0)).collect();
        assert_eq!(got, vec![&b"a"[..]; 9]);
        let mut short = Ahead::new(Gappy(8));
        assert_eq!(short.next(), Some(&b"a"[..]));
        assert_eq!(short.next(), None);
        assert_eq!(short.next(), None);
    }

    #[test]
    fn prefetch_asks_for_the_lines_of_the_event_only() {
        // Empty, shorter than a line, exactly a line, unaligned, longer than the lines asked.
        let big = vec![7u8; 1000];
        let lines_for = |len: usize| {
            if cfg!(target_arch = "x86_64") {
                len.div_ceil(64).min(4)
            } else {
                0
            }
        };
        for slice in [
            &big[..0],
            &big[..1],
            &big[..64],
            &big[..65],
            &big[3..200],
            &big[..],
        ] {
            assert_eq!(
                prefetch(slice),
                lines_for(slice.len()),
                "{} bytes",
                slice.len()
            );
        }
    }
}
