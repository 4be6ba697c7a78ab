//! `develop.watch`: deciding which file changes matter to which service
//! ([`rules`]) and turning bursts of changes into one action per service
//! ([`debounce`]). The watcher loop that applies the actions lives with the
//! reconciler, which knows how to sync, restart and rebuild.

pub mod debounce;
pub mod rules;
