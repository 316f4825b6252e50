//! A list of at most `N` items kept on the stack, for the per-call lists of RL.MHIT: the hot
//! path allocates nothing the server API does not force on it.

use std::mem::MaybeUninit;

pub struct Bounded<T, const N: usize> {
    items: [MaybeUninit<T>; N],
    len: usize,
}

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Bounded<T, N> {
    pub fn new() -> Self {
        Bounded {
            items: [const { MaybeUninit::uninit() }; N],
            len: 0,
        }
    }

    /// Appends `item`, or gives it back when the list is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                slot.write(item);
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` items were written by `push`, and `MaybeUninit<T>` has the
        // layout of `T`.
        unsafe { std::slice::from_raw_parts(self.items.as_ptr().cast::<T>(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, borrowed mutably once.
        unsafe { std::slice::from_raw_parts_mut(self.items.as_mut_ptr().cast::<T>(), self.len) }
    }
}

impl<T, const N: usize> Drop for Bounded<T, N> {
    fn drop(&mut self) {
        // SAFETY: the first `len` items are initialized and dropped once, here.
        unsafe { std::ptr::drop_in_place(self.as_mut_slice()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn holds_up_to_n_and_drops_what_it_holds() {
        let counted = Rc::new(());
        let mut list: Bounded<Rc<()>, 3> = Bounded::new();
        for _ in 0..3 {
            assert!(list.push(counted.clone()).is_ok());
        }
        assert!(list.push(counted.clone()).is_err());
        assert_eq!(list.len(), 3);
        assert_eq!(list.as_slice().len(), 3);
        assert_eq!(Rc::strong_count(&counted), 4);
        drop(list);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}
