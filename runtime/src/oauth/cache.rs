//! Tokens already verified: a token seen again is not decoded and its signature not checked
//! again, until it expires or the key set changes.
//!
//! A token's verification depends on the token, the configuration (fixed once built), the
//! key set, and the time. Of the checks that depend on the time, only `exp` can turn a token
//! that passed into one that fails (`nbf`, an `iat` in the future and the lifetime of a
//! token without `iat` only pass more easily as time goes on): a hit checks `exp` again, with
//! the same leeway. The key set is compared by its generation, which changes with each set
//! fetched from the issuer: a token verified with a set that was replaced is verified again.
//!
//! Only tokens that passed are kept, so a caller cannot fill the cache without valid tokens;
//! a hit compares the whole token, not a hash of it. Entries are weighed by their size, and
//! the least useful ones leave when the cache reaches its capacity (`quick_cache`'s
//! S3-FIFO: a token seen once leaves before one seen again).

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::authz::Principal;

/// A verified token's caller and what a hit checks again.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    /// The token's `exp`, in whole seconds.
    exp: u64,
    /// The generation of the key set that verified the token.
    keys: u64,
}

/// An entry's weight: about the bytes it holds. The token twice (the key, and at most its
/// length again for the caller's subject, scopes and roles, all read from the token), and
/// the entry's own bookkeeping.
#[derive(Clone, Copy)]
struct Bytes;

/// What an entry costs beyond its token's bytes: the key's and the principal's allocation
/// headers, the entry, and the cache's bookkeeping of it (its slot and its hash table row).
const ENTRY_OVERHEAD: u64 = 128;

impl Weighter<Box<str>, Verified> for Bytes {
    fn weight(&self, token: &Box<str>, _: &Verified) -> u64 {
        2 * token.len() as u64 + ENTRY_OVERHEAD
    }
}

/// The tokens verified, up to a capacity in bytes; none if the capacity is zero.
pub(super) struct VerifiedTokens {
    cache: Option<Cache<Box<str>, Verified, Bytes>>,
}

/// What [`VerifiedTokens::get`] found.
#[derive(Debug)]
pub(super) enum Lookup {
    /// The token was verified with the current keys, and has not expired.
    Valid(Principal),
    /// The token was verified, but its `exp` (plus the leeway) is past.
    Expired { exp: u64 },
    /// Not in the cache, or verified with keys that were replaced since: verify it.
    Unknown,
}

impl VerifiedTokens {
    /// A cache of about `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Self {
        let cache = (capacity > 0).then(|| {
            let capacity = capacity as u64;
            // A typical access token is under a kilobyte.
            let estimated = (capacity / (2 * 1024 + ENTRY_OVERHEAD)).max(1);
            Cache::with_weighter(
                usize::try_from(estimated).unwrap_or(usize::MAX),
                capacity,
                Bytes,
            )
        });
        Self { cache }
    }

    /// What the cache knows of `token` at `now` (seconds since the epoch), with the keys of
    /// generation `keys` in use and `leeway` seconds of clock skew tolerated on `exp`.
    pub(super) fn get(&self, token: &str, now: u64, keys: u64, leeway: u64) -> Lookup {
        let Some(verified) = self.cache.as_ref().and_then(|cache| cache.get(token)) else {
            return Lookup::Unknown;
        };
        if verified.keys != keys {
            Lookup::Unknown
        } else if verified.exp.saturating_add(leeway) < now {
            Lookup::Expired { exp: verified.exp }
        } else {
            Lookup::Valid(verified.principal)
        }
    }

    /// Remembers that `token`, expiring at `exp`, verified with the keys of generation
    /// `keys` as `principal`.
    pub(super) fn insert(&self, token: &str, principal: &Principal, exp: u64, keys: u64) {
        if let Some(cache) = &self.cache {
            let verified = Verified {
                principal: principal.clone(),
                exp,
                keys,
            };
            cache.insert(token.into(), verified);
        }
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::len)
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        let mut debug = f.debug_struct("VerifiedTokens");
        match &self.cache {
            Some(cache) => debug
                .field("capacity", &cache.capacity())
                .field("len", &cache.len()),
            None => debug.field("capacity", &0),
        }
        .finish()
    }
}
