//! ovs-ofctl flow text parser. (Being written.)
