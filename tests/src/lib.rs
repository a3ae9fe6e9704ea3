//! Test harness: namespaces, veths, xvsd processes.
