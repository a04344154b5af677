//! A FIFO of wait records with O(1) removal by key (Go's `waitq` of
//! `sudog`s, as a slab instead of pointers).
//!
//! ```text
//!   nodes: [ A | free | B | C | free ]      head = 0 (A), tail = 3 (C)
//!   links: A.next = 2 (B), B.next = 3 (C); free slots chain through `next`
//!   a record popped by a claimer stays in its slot, unlinked, until its
//!   owner removes it by key (and reads what the claimer left there)
//! ```
//!
//! Contract: a [`Key`] is handed to the record's owner at `push_back`; only
//! the owner calls [`WaitList::remove`] with it, exactly once. Anyone holding
//! the list (under the channel's lock) may unlink records from the front
//! (`first` + `unlink`); an unlinked record keeps its slot, so its owner's
//! removal needs no search. Slots are reused: a list allocates only when it
//! holds more records than ever before.

const NIL: u32 = u32::MAX;

/// A cursor ahead of a [`WaitList`]'s front ([`WaitList::ahead`]).
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    idx: u32,
    started: bool,
}

/// Names one record of a [`WaitList`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    idx: u32,
    gen: u32,
}

struct Node<E> {
    prev: u32,
    next: u32,
    gen: u32,
    linked: bool,
    val: Option<E>,
}

pub(crate) struct WaitList<E> {
    nodes: Vec<Node<E>>,
    free: u32,
    head: u32,
    tail: u32,
}

impl<E> WaitList<E> {
    pub(crate) const fn new() -> WaitList<E> {
        WaitList {
            nodes: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    /// No record is linked (nothing waiting to be found).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// The first linked record.
    #[inline]
    pub(crate) fn front(&self) -> Option<&E> {
        if self.head == NIL {
            return None;
        }
        self.nodes[self.head as usize].val.as_ref()
    }

    /// Unlink the first record and free its slot at once (the owner's key
    /// goes stale: only for a record whose owner will not remove it).
    #[inline]
    pub(crate) fn take_front(&mut self) -> Option<E> {
        let k = self.pop_front()?;
        let free = self.free;
        let n = &mut self.nodes[k.idx as usize];
        n.gen = n.gen.wrapping_add(1);
        n.next = free;
        self.free = k.idx;
        n.val.take()
    }

    /// Append a record; its owner keeps the key.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, e: E) -> Key {
        self.push_back_with(|| e)
    }

    /// Append the record `make` builds (in its slot, once the slot is
    /// found); its owner keeps the key.
    #[inline(always)]
    pub(crate) fn push_back_with(&mut self, make: impl FnOnce() -> E) -> Key {
        let idx = if self.free != NIL {
            self.free
        } else {
            self.grow()
        };
        let tail = self.tail;
        let n = &mut self.nodes[idx as usize];
        if n.val.is_some() {
            fatal!("wait list slot {idx} was free but held a record");
        }
        // A grown slot's `next` is NIL, as `free` was: either way the free
        // list's next head.
        let next_free = n.next;
        n.val = Some(make());
        n.linked = true;
        n.prev = tail;
        n.next = NIL;
        let gen = n.gen;
        self.free = next_free;
        if tail == NIL {
            self.head = idx;
        } else {
            self.nodes[tail as usize].next = idx;
        }
        self.tail = idx;
        Key { idx, gen }
    }

    /// A new free slot (the list holds more records than ever before).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) -> u32 {
        let i = self.nodes.len();
        if i >= NIL as usize {
            fatal!("wait list holds {i} records");
        }
        self.nodes.push(Node {
            prev: NIL,
            next: NIL,
            gen: 0,
            linked: false,
            val: None,
        });
        i as u32
    }

    /// Unlink the first record and return its key (its slot stays for the
    /// owner).
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Key> {
        let idx = self.head;
        if idx == NIL {
            return None;
        }
        let n = &mut self.nodes[idx as usize];
        n.linked = false;
        let (next, gen) = (n.next, n.gen);
        self.head = next;
        if next == NIL {
            self.tail = NIL;
        } else {
            self.nodes[next as usize].prev = NIL;
        }
        Some(Key { idx, gen })
    }

    /// The linked record `d` places after the front, by a cursor that a
    /// loop taking the front once a step keeps (`ahead`, starting
    /// [`Ahead::default`]): the first call walks `d` on from the front,
    /// each later one moves a single record on. For prefetching only: a
    /// cursor that is no longer on a linked record (the loop did something
    /// else) just gives `None` from then on.
    #[inline]
    pub(crate) fn ahead(&self, ahead: &mut Ahead, d: usize) -> Option<&E> {
        let start = !ahead.started;
        let mut i = if start { self.head } else { ahead.idx };
        ahead.started = true;
        for _ in 0..if start { d } else { 1 } {
            i = match self.nodes.get(i as usize) {
                Some(n) if n.linked => n.next,
                _ => NIL,
            };
        }
        ahead.idx = i;
        match self.nodes.get(i as usize) {
            Some(n) if n.linked => n.val.as_ref(),
            _ => None,
        }
    }

    /// The first linked record for which `skip` is false.
    #[inline]
    pub(crate) fn first(&self, mut skip: impl FnMut(&E) -> bool) -> Option<Key> {
        let mut i = self.head;
        while i != NIL {
            let n = &self.nodes[i as usize];
            if !skip(n.val.as_ref().expect("a linked record has a value")) {
                return Some(Key { idx: i, gen: n.gen });
            }
            i = n.next;
        }
        None
    }

    #[inline]
    fn node(&self, k: Key) -> &Node<E> {
        match self.nodes.get(k.idx as usize) {
            Some(n) if n.gen == k.gen && n.val.is_some() => n,
            _ => stale(k, self.nodes.len()),
        }
    }

    #[inline]
    fn node_mut(&mut self, k: Key) -> &mut Node<E> {
        let len = self.nodes.len();
        match self.nodes.get_mut(k.idx as usize) {
            Some(n) if n.gen == k.gen && n.val.is_some() => n,
            _ => stale(k, len),
        }
    }

    #[inline]
    pub(crate) fn get(&self, k: Key) -> &E {
        self.node(k).val.as_ref().unwrap_or_else(|| stale(k, 0))
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, k: Key) -> &mut E {
        self.node_mut(k).val.as_mut().unwrap_or_else(|| stale(k, 0))
    }

    /// Take the record out of the FIFO; its slot stays for the owner.
    #[inline]
    pub(crate) fn unlink(&mut self, k: Key) {
        let n = self.node_mut(k);
        if !n.linked {
            return;
        }
        n.linked = false;
        let (prev, next) = (n.prev, n.next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Owner: unlink if needed, free the slot, return the record.
    #[inline]
    pub(crate) fn remove(&mut self, k: Key) -> E {
        self.unlink(k);
        let free = self.free;
        let n = &mut self.nodes[k.idx as usize];
        n.gen = n.gen.wrapping_add(1);
        n.next = free;
        self.free = k.idx;
        n.val.take().unwrap_or_else(|| stale(k, 0))
    }
}

#[cold]
#[inline(never)]
fn stale(k: Key, slots: usize) -> ! {
    fatal!("stale wait-list key {}/{} ({slots} slots)", k.idx, k.gen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cursor stays `d` records ahead of the front while the loop takes
    /// the front (freed slots in between, pops that leave slots linked-off),
    /// then gives `None` at the end and for a cursor on an unlinked slot.
    #[test]
    fn ahead_stays_d_records_ahead_of_the_front() {
        let mut l = WaitList::new();
        // Freed slots to be reused out of order.
        let ks: Vec<Key> = (0..4).map(|i| l.push_back(100 + i)).collect();
        for k in [ks[2], ks[0], ks[3], ks[1]] {
            l.remove(k);
        }
        for i in 0..20 {
            l.push_back(i);
        }
        let mut a = Ahead::default();
        let mut seen = Vec::new();
        for i in 0..20 {
            seen.push(l.ahead(&mut a, 3).copied());
            assert_eq!(l.front(), Some(&i));
            if i % 2 == 0 {
                assert_eq!(l.take_front(), Some(i));
            } else {
                l.pop_front();
            }
        }
        let want: Vec<Option<i32>> = (0..20).map(|i| (i + 3 < 20).then_some(i + 3)).collect();
        assert_eq!(seen, want);
        let mut l = WaitList::new();
        let ks: Vec<Key> = (0..3).map(|i| l.push_back(i)).collect();
        let mut a = Ahead::default();
        assert_eq!(l.ahead(&mut a, 1), Some(&1));
        l.unlink(ks[1]);
        assert_eq!(l.ahead(&mut a, 1), None, "cursor was on an unlinked slot");
        assert_eq!(l.ahead(&mut a, 1), None);
    }

    #[test]
    fn fifo_unlink_and_remove_reuse_slots() {
        let mut l = WaitList::new();
        let a = l.push_back(1);
        let b = l.push_back(2);
        let c = l.push_back(3);
        assert_eq!(l.first(|_| false), Some(a));
        assert_eq!(l.first(|&v| v < 3), Some(c));
        l.unlink(a);
        assert_eq!(l.first(|_| false), Some(b));
        assert_eq!(*l.get(a), 1, "an unlinked record keeps its slot");
        assert_eq!(l.remove(b), 2);
        assert_eq!(l.first(|_| false), Some(c));
        assert_eq!(l.remove(a), 1);
        assert_eq!(l.remove(c), 3);
        assert!(l.is_empty());
        let d = l.push_back(4);
        assert!(
            d.idx <= 2 && d.gen == 1,
            "slot reused with a new generation"
        );
        assert_eq!(l.nodes.len(), 3);
        assert_eq!(l.first(|_| false), Some(d));
    }

    #[test]
    fn removal_from_the_middle_keeps_order() {
        let mut l = WaitList::new();
        let keys: Vec<Key> = (0..10).map(|i| l.push_back(i)).collect();
        for k in keys.iter().skip(1).step_by(2) {
            l.remove(*k);
        }
        let mut seen = vec![];
        while let Some(k) = l.first(|_| false) {
            seen.push(*l.get(k));
            l.unlink(k);
            l.remove(k);
        }
        assert_eq!(seen, vec![0, 2, 4, 6, 8]);
    }
}
