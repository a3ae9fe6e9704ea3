//! [`PacketMut`]: a packet inside a fixed-capacity frame buffer, which can open or
//! close a gap in its middle.
//!
//! The buffer is the whole frame (an AF_XDP UMEM chunk); the packet starts `start`
//! bytes into it. The bytes before the packet are headroom: prepending outer headers
//! (tunnel encapsulation) only moves the start back, and opening a gap near the front
//! (a VLAN tag after the MAC addresses) moves the few bytes before the gap back into
//! the headroom instead of the whole payload forward. Removing works the same way in
//! reverse. Whichever side is shorter is moved; the caller learns the new start from
//! [`PacketMut::start`] (the frame descriptor then points there).

/// The buffer has no room for what was asked (or the position is past the packet's
/// end, so there is nowhere to put it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

/// The byte range asked for is not inside the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no room in the packet buffer")
    }
}

impl std::error::Error for NoRoom {}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("range outside the packet")
    }
}

impl std::error::Error for OutOfRange {}

/// A mutable packet of `len` bytes, `start` bytes into `buf`.
#[derive(Debug)]
pub struct PacketMut<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
    /// The caller follows `start` (made with `with_headroom`): edits may move it.
    movable: bool,
}

impl<'a> PacketMut<'a> {
    /// `buf` is the whole frame from the packet's first byte; `len` the packet length.
    /// `None` if `len` exceeds the buffer.
    #[inline]
    /// The packet's start never moves (no headroom is used).
    pub fn new(buf: &'a mut [u8], len: usize) -> Option<Self> {
        let mut p = Self::with_headroom(buf, 0, len)?;
        p.movable = false;
        Some(p)
    }

    /// `buf` is the whole frame, the packet is `buf[start..start + len]`. `None` if
    /// that is not inside the buffer.
    #[inline]
    pub fn with_headroom(buf: &'a mut [u8], start: usize, len: usize) -> Option<Self> {
        if start.checked_add(len)? > buf.len() {
            return None;
        }
        Some(PacketMut { buf, start, len, movable: true })
    }

    /// Offset of the packet's first byte in the buffer (the headroom in front of it).
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    /// The packet bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // `start + len <= buf.len()` is an invariant of every constructor and setter.
        &self.buf[self.start..self.start + self.len]
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Prepend `n` bytes (left as they were: the caller writes them) by moving the
    /// start back into the headroom. Nothing else moves.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Result<(), NoRoom> {
        if !self.movable || n > self.start {
            return Err(NoRoom);
        }
        self.start -= n;
        self.len += n;
        Ok(())
    }

    /// Drop the first `n` bytes (decapsulation): the start moves forward.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> Result<(), OutOfRange> {
        if !self.movable || n > self.len {
            return Err(OutOfRange);
        }
        self.start += n;
        self.len -= n;
        Ok(())
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the packet may grow to at its tail (from its current start).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Change the packet length (growing exposes whatever the buffer held there).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), NoRoom> {
        if len > self.capacity() {
            return Err(NoRoom);
        }
        self.len = len;
        Ok(())
    }

    /// Open a zeroed gap of `n` bytes at `ofs` (`ofs == len` appends). Moves the bytes
    /// before `ofs` back into the headroom when there is room and they are fewer than
    /// those after it (a VLAN tag after the MACs moves 12 bytes, not the payload);
    /// otherwise moves the bytes from `ofs` on towards the end. Offsets relative to the
    /// packet's start end up the same either way.
    pub fn insert_gap(&mut self, ofs: usize, n: usize) -> Result<(), NoRoom> {
        if ofs > self.len {
            return Err(NoRoom);
        }
        let new_len = self.len.checked_add(n).ok_or(NoRoom)?;
        let front_ok = self.movable && n <= self.start;
        let tail_ok = new_len <= self.capacity();
        if !front_ok && !tail_ok {
            return Err(NoRoom);
        }
        if front_ok && (!tail_ok || ofs <= self.len - ofs) {
            let s = self.start;
            self.buf.copy_within(s..s + ofs, s - n);
            self.start -= n;
        } else {
            let s = self.start;
            self.buf.copy_within(s + ofs..s + self.len, s + ofs + n);
        }
        let s = self.start;
        self.buf[s + ofs..s + ofs + n].fill(0);
        self.len = new_len;
        Ok(())
    }

    /// Remove the `n` bytes at `ofs`, moving whichever side is shorter (the bytes
    /// before `ofs` forward, or the rest of the packet back). Used for VLAN pop.
    pub fn remove(&mut self, ofs: usize, n: usize) -> Result<(), OutOfRange> {
        let end = ofs.checked_add(n).ok_or(OutOfRange)?;
        if end > self.len {
            return Err(OutOfRange);
        }
        let s = self.start;
        if self.movable && ofs < self.len - end {
            self.buf.copy_within(s..s + ofs, s + n);
            self.start += n;
        } else {
            self.buf.copy_within(s + end..s + self.len, s + ofs);
        }
        self.len -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let mut b = [1u8, 2, 3, 4, 0, 0, 0, 0];
        assert!(PacketMut::new(&mut b, 9).is_none());
        let mut p = PacketMut::new(&mut b, 4).unwrap();
        assert_eq!(p.len(), 4);
        assert!(!p.is_empty());
        assert_eq!(p.capacity(), 8);
        assert_eq!(p.data(), &[1, 2, 3, 4]);
        p.data_mut()[0] = 9;
        assert_eq!(p.set_len(9), Err(NoRoom));
        p.set_len(2).unwrap();
        assert_eq!(p.data(), &[9, 2]);
        p.set_len(4).unwrap();
        assert_eq!(p.data(), &[9, 2, 3, 4]);
    }

    #[test]
    fn gap_and_remove() {
        let mut b = [1u8, 2, 3, 4, 5, 0xee, 0xee, 0xee, 0xee];
        let mut p = PacketMut::new(&mut b, 5).unwrap();
        p.insert_gap(2, 4).unwrap();
        assert_eq!(p.data(), &[1, 2, 0, 0, 0, 0, 3, 4, 5]);
        assert_eq!(p.insert_gap(0, 1), Err(NoRoom));
        p.remove(2, 4).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5]);
        // Append at the end and remove the tail.
        p.insert_gap(5, 2).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 0, 0]);
        p.remove(5, 2).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5]);
        // Zero-length edits are no-ops.
        p.insert_gap(3, 0).unwrap();
        p.remove(5, 0).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn headroom_takes_front_edits() {
        // 4 bytes of headroom, a 6-byte packet, 2 spare bytes at the tail.
        let mut b = [0xaau8, 0xaa, 0xaa, 0xaa, 1, 2, 3, 4, 5, 6, 0xee, 0xee];
        let mut p = PacketMut::with_headroom(&mut b, 4, 6).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        // A gap near the front moves the two leading bytes back, not the tail.
        p.insert_gap(2, 2).unwrap();
        assert_eq!((p.start(), p.data()), (2, &[1, 2, 0, 0, 3, 4, 5, 6][..]));
        p.remove(2, 2).unwrap();
        assert_eq!((p.start(), p.data()), (4, &[1, 2, 3, 4, 5, 6][..]));
        // Prepend an outer header into the headroom, then take it off again.
        p.push_front(4).unwrap();
        p.data_mut()[..4].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(p.data(), &[9, 9, 9, 9, 1, 2, 3, 4, 5, 6]);
        assert_eq!(p.push_front(1), Err(NoRoom));
        p.pull_front(4).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(p.pull_front(7), Err(OutOfRange));
        // A gap near the tail moves the tail.
        p.insert_gap(5, 2).unwrap();
        assert_eq!((p.start(), p.data()), (4, &[1, 2, 3, 4, 5, 0, 0, 6][..]));
        assert!(PacketMut::with_headroom(&mut [0u8; 4], 3, 2).is_none());
    }

    #[test]
    fn bad_offsets_are_errors() {
        let mut b = [0u8; 8];
        let mut p = PacketMut::new(&mut b, 4).unwrap();
        assert_eq!(p.insert_gap(5, 1), Err(NoRoom));
        assert_eq!(p.insert_gap(0, usize::MAX), Err(NoRoom));
        assert_eq!(p.remove(3, 2), Err(OutOfRange));
        assert_eq!(p.remove(usize::MAX, 2), Err(OutOfRange));
        assert_eq!(p.remove(5, 0), Err(OutOfRange));
        assert_eq!(p.len(), 4);
    }
}
