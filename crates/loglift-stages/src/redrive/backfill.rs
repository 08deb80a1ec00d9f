//! See [the module index](super).
