//! Free coroutine bodies by spawn site: the allocation a spawn makes
//! besides its task struct (`body::Spawned`: the closure and the join
//! slot), kept for the next spawn of the same site instead of going back
//! to the allocator, as the task structs are (`free_tasks.rs`).
//!
//! Contract:
//! - A body's type is its spawn site's (`Spawned<F, T>`, by the closure's
//!   and the result's types), so bodies are kept by type. Each worker has
//!   its own lists ([`Sites`], `Local::free_bodies`: only its thread
//!   touches them), at most [`MAX_SITES`] sites of at most [`FREE_BODIES`]
//!   bodies each. A full list moves half to the runtime's list for that
//!   site ([`SharedBodies`]), an empty one takes up to half a list back:
//!   one lock section per `FREE_BODIES / 2` bodies, as for task structs.
//! - A body is kept only empty and by the holder of its last reference:
//!   its closure taken (it ran, or it was cancelled before it started),
//!   its result taken by `JoinHandle::join` or dropped by its detached
//!   coroutine, its joiner woken. Nothing holds a weak reference to a
//!   body, so a strong count of 1 means nobody else can reach it; the
//!   spawn that takes it checks again (`Arc::get_mut`) and overwrites it
//!   whole. Bodies over [`MAX_BODY`] bytes are not kept.
//! - The runtime's lists have no bound but the number of sites: a burst
//!   of a million spawns from one site keeps a million bodies for the
//!   next (Go's closures are garbage collected instead). What stays unused
//!   there for `free_tasks::TRIM_AGE` beyond [`KEEP_BODIES`] per site is
//!   freed by idle workers ([`SharedBodies::trim`], the task structs'
//!   trim). A worker drops its own lists as it exits, and the last one to
//!   exit empties the runtime's: a runtime's drop frees every body.
//!
//! ```text
//!   spawn(f) --reuse::<Spawned<F, T>>()--> worker's list for that site --empty--> runtime's list
//!   join / detached finish --keep(body)--> worker's list --full: half--> runtime's list
//!                                                              idle workers trim it
//! ```

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::free_tasks::FreeTasks;
use super::worker::with_local;

/// A free body, its type erased (the site's `Spawned<F, T>`).
pub(crate) type AnyBody = Arc<dyn Any + Send + Sync>;

/// Spawn sites whose bodies a worker and its runtime keep; spawns from
/// further sites allocate every body.
pub(crate) const MAX_SITES: usize = 16;
/// Free bodies a worker keeps per site before it moves half of them to
/// the runtime's list.
pub(crate) const FREE_BODIES: usize = 256;
/// Bodies per site the runtime's list keeps however long they stay unused.
pub(crate) const KEEP_BODIES: usize = 1024;
/// Largest body kept, in bytes (the closure and the result's room): a
/// body's size is what a kept one holds on to.
pub(crate) const MAX_BODY: usize = 256;

/// One site's free bodies on one worker; `shared` is the index of the
/// runtime's list for it in [`SharedBodies`].
struct Site {
    id: TypeId,
    list: Vec<AnyBody>,
    shared: usize,
}

/// A worker's free bodies, by site (`Local::free_bodies`).
#[derive(Default)]
pub(crate) struct Sites(Vec<Site>);

impl Sites {
    /// Drop every body (the worker's exit).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// The runtime's lists of free bodies, one per site (`Shared::free_bodies`).
/// Slots are taken in order, each once for the runtime's life, so a
/// lookup or a trim reads them without a lock: the first empty slot ends
/// the used ones.
pub(crate) struct SharedBodies {
    sites: [OnceLock<(TypeId, FreeTasks<AnyBody>)>; MAX_SITES],
}

impl SharedBodies {
    pub(crate) fn new() -> SharedBodies {
        SharedBodies {
            sites: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The index of the runtime's list for site `id`, made on its first
    /// use; `None` once [`MAX_SITES`] sites have lists. Two workers that
    /// make lists for two new sites at once take two slots in turn.
    fn site(&self, id: TypeId) -> Option<usize> {
        self.sites.iter().position(|slot| {
            let (t, _) = slot.get_or_init(|| (id, FreeTasks::with_keep(KEEP_BODIES)));
            *t == id
        })
    }

    fn list(&self, i: usize) -> Option<&FreeTasks<AnyBody>> {
        self.sites.get(i)?.get().map(|(_, l)| l)
    }

    fn used(&self) -> impl Iterator<Item = &FreeTasks<AnyBody>> {
        self.sites.iter().map_while(|s| s.get().map(|(_, l)| l))
    }

    /// Trim every site's list (`FreeTasks::trim`: the clock is read only
    /// for a list long enough to trim); when the next trim is due, the
    /// soonest of the sites'.
    pub(crate) fn trim(&self) -> Option<Duration> {
        self.used().filter_map(|l| l.trim(Instant::now)).min()
    }

    /// Empty every list (the last worker's exit); the caller drops what it
    /// returns.
    pub(crate) fn clear(&self) -> Vec<AnyBody> {
        self.used().flat_map(|l| l.clear()).collect()
    }
}

/// A free body of type `B` for a spawn on this thread's worker (`None`:
/// none kept for that site, or not on a worker).
#[inline]
pub(crate) fn reuse<B: Any + Send + Sync>() -> Option<Arc<B>> {
    let id = TypeId::of::<B>();
    let b = with_local(|l| {
        let mut sites = l.free_bodies.try_borrow_mut().ok()?;
        let site = sites.0.iter_mut().find(|s| s.id == id)?;
        if site.list.is_empty() {
            let shared = l.shared.free_bodies.list(site.shared)?;
            if shared.len() > 0 {
                shared.take(&mut site.list, FREE_BODIES / 2);
            }
        }
        site.list.pop()
    })
    .flatten()?;
    // The site's list holds only bodies of its type.
    b.downcast::<B>().ok()
}

/// Keep `b`, an empty body whose last reference the caller holds (see the
/// module docs), for the next spawn of its site on this thread's worker;
/// else drop it.
pub(crate) fn keep(b: AnyBody) {
    if std::mem::size_of_val(&*b) > MAX_BODY {
        return;
    }
    // The body's own type (`b.type_id()` would be the `Arc`'s).
    let id = (*b).type_id();
    let _ = with_local(move |l| {
        let Ok(mut sites) = l.free_bodies.try_borrow_mut() else {
            return;
        };
        let i = match sites.0.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                if sites.0.len() >= MAX_SITES {
                    return;
                }
                let Some(shared) = l.shared.free_bodies.site(id) else {
                    return;
                };
                sites.0.push(Site {
                    id,
                    list: Vec::new(),
                    shared,
                });
                sites.0.len() - 1
            }
        };
        let site = &mut sites.0[i];
        if site.list.len() >= FREE_BODIES {
            let Some(shared) = l.shared.free_bodies.list(site.shared) else {
                return;
            };
            shared.put(&mut site.list, FREE_BODIES / 2);
        }
        site.list.push(b);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;

    /// Sites take the runtime's slots in order, once each; a further site
    /// gets none; the lists keep what they are given and clear frees all.
    #[test]
    fn sites_take_slots_in_order_and_are_bounded() {
        let s = SharedBodies::new();
        let (a, b) = (TypeId::of::<A>(), TypeId::of::<B>());
        assert_eq!(s.site(a), Some(0));
        assert_eq!(s.site(b), Some(1));
        assert_eq!(s.site(a), Some(0));
        // Fill the rest with made-up sites: array types of other lengths.
        let ids = [
            TypeId::of::<[u8; 2]>(),
            TypeId::of::<[u8; 3]>(),
            TypeId::of::<[u8; 4]>(),
            TypeId::of::<[u8; 5]>(),
            TypeId::of::<[u8; 6]>(),
            TypeId::of::<[u8; 7]>(),
            TypeId::of::<[u8; 8]>(),
            TypeId::of::<[u8; 9]>(),
            TypeId::of::<[u8; 10]>(),
            TypeId::of::<[u8; 11]>(),
            TypeId::of::<[u8; 12]>(),
            TypeId::of::<[u8; 13]>(),
            TypeId::of::<[u8; 14]>(),
            TypeId::of::<[u8; 15]>(),
        ];
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(s.site(*id), Some(i + 2));
        }
        assert_eq!(s.site(TypeId::of::<[u8; 16]>()), None, "past MAX_SITES");
        assert_eq!(s.site(b), Some(1));
        let mut v: Vec<AnyBody> = vec![Arc::new(B), Arc::new(B)];
        s.list(1).unwrap().put(&mut v, 0);
        assert_eq!(s.list(1).unwrap().len(), 2);
        assert_eq!(s.trim(), None, "nothing beyond KEEP_BODIES to trim");
        assert_eq!(s.clear().len(), 2);
        assert_eq!(s.list(1).unwrap().len(), 0);
    }
}
