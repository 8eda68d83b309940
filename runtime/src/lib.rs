//! moss-runtime
