//! Zero-copy header views, flow-key extraction and header rewrites. (Being written.)
