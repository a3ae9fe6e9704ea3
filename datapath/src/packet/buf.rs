//! [`PacketMut`]: a packet inside a fixed-capacity frame buffer, which can open or
//! close a gap in its middle.
//!
//! The buffer starts at the packet's first byte and extends to the end of the frame
//! (an AF_XDP UMEM chunk). Growing therefore moves the tail of the packet towards the
//! end of the buffer; that is a `memmove` of the bytes after the gap, which for the
//! edits we make near the front (VLAN tags, tunnel headers) is most of the packet, but
//! never needs a second buffer.

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

/// A mutable packet of `len` bytes at the start of `buf`.
#[derive(Debug)]
pub struct PacketMut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PacketMut<'a> {
    /// `buf` is the whole frame from the packet's first byte; `len` the packet length.
    /// `None` if `len` exceeds the buffer.
    #[inline]
    pub fn new(buf: &'a mut [u8], len: usize) -> Option<Self> {
        if len > buf.len() {
            return None;
        }
        Some(PacketMut { buf, len })
    }

    /// The packet bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // `len <= buf.len()` is an invariant of every constructor and setter.
        &self.buf[..self.len]
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the packet may grow to.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Change the packet length (growing exposes whatever the buffer held there).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), NoRoom> {
        if len > self.buf.len() {
            return Err(NoRoom);
        }
        self.len = len;
        Ok(())
    }

    /// Open a zeroed gap of `n` bytes at `ofs` (`ofs == len` appends), moving the bytes
    /// from `ofs` on towards the end. Used for VLAN push and tunnel encapsulation.
    pub fn insert_gap(&mut self, ofs: usize, n: usize) -> Result<(), NoRoom> {
        if ofs > self.len {
            return Err(NoRoom);
        }
        let new_len = self.len.checked_add(n).ok_or(NoRoom)?;
        if new_len > self.buf.len() {
            return Err(NoRoom);
        }
        self.buf.copy_within(ofs..self.len, ofs + n);
        self.buf[ofs..ofs + n].fill(0);
        self.len = new_len;
        Ok(())
    }

    /// Remove the `n` bytes at `ofs`, moving the rest of the packet back. Used for VLAN
    /// pop and tunnel decapsulation.
    pub fn remove(&mut self, ofs: usize, n: usize) -> Result<(), OutOfRange> {
        let end = ofs.checked_add(n).ok_or(OutOfRange)?;
        if end > self.len {
            return Err(OutOfRange);
        }
        self.buf.copy_within(end..self.len, ofs);
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
