//! ovs-ofctl flow text printer. (Being written.)
