//! Work over many files on every core, in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `f` applied to every item, on up to as many threads as there are cores; the results in
/// the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut out = Vec::with_capacity(items.len());
    let done: Result<(), std::convert::Infallible> = for_each(items, f, |r| {
        out.push(r);
        Ok(())
    });
    match done {
        Ok(()) => out,
    }
}

/// `f` applied to every item, on up to as many threads as there are cores, and `each`
/// called on the calling thread with every result in the items' order, as soon as it and
/// all before it are done (so output starts before the last file is read). Items are
/// taken one at a time, so one slow file does not hold up a whole share. The first error
/// of `each` stops the work and is returned.
pub fn for_each<T: Sync, R: Send, E>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut each: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    // One item needs no threads (and no look at the CPU count, which reads cgroup files).
    let threads = match items.len() {
        0 | 1 => 1,
        n => std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(n),
    };
    if threads <= 1 {
        return items.iter().try_for_each(|item| each(f(item)));
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (send, receive) = std::sync::mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let send = send.clone();
                let (next, stop, f) = (&next, &stop, &f);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        if send.send((i, f(item))).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(send);
        // Results that came before their turn, by index.
        let mut waiting: Vec<Option<R>> = Vec::new();
        waiting.resize_with(items.len(), || None);
        let mut turn = 0;
        let mut result = Ok(());
        for (i, r) in &receive {
            waiting[i] = Some(r);
            while let Some(r) = waiting.get_mut(turn).and_then(Option::take) {
                turn += 1;
                if let Err(e) = each(r) {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        drop(receive);
        for w in workers {
            if let Err(p) = w.join() {
                std::panic::resume_unwind(p);
            }
        }
        result
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_in_the_items_order() {
        let items: Vec<u64> = (0..1000).collect();
        let out = super::map(&items, |x| {
            if x % 7 == 0 {
                std::thread::yield_now();
            }
            x * 2
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u8], |x| *x).is_empty());
        assert_eq!(super::map(&[3u8], |x| *x), [3]);
    }

    #[test]
    fn the_first_error_stops_the_work() {
        let items: Vec<u64> = (0..10_000).collect();
        let mut seen = Vec::new();
        let done = super::for_each(
            &items,
            |x| *x,
            |x| {
                if x == 100 {
                    return Err(x);
                }
                seen.push(x);
                Ok(())
            },
        );
        assert_eq!(done, Err(100));
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
