//! Tokens already verified: a token seen again is not decoded and its signature not checked
//! again, until it expires or the key set changes.
//!
//! A token's verification depends on the token, the configuration (fixed once built), the
//! key set, and the time. The checks that depend on the time (`exp`, `nbf`, an `iat` in the
//! future, the lifetime of a token without `iat`) each hold on an interval, so a token that
//! passed passes from the start of their intersection to its `exp` plus the leeway
//! ([`Lifetime`]): a hit checks that the time is in it, which also holds if the clock is
//! set back. The key set is compared by its generation, which changes with each set
//! fetched from the issuer: a token verified with a set that was replaced is verified
//! again.
//!
//! Tokens are kept by their SHA-256 digest, never themselves: no bearer token stays in the
//! server's memory, and a hit compares 32 bytes no caller chooses. Only tokens that passed
//! are kept, so a caller cannot fill the cache without tokens of the issuer; an expired
//! token, or one that fails again, is removed. Entries are weighed by what they hold, and
//! the least useful ones leave when the cache reaches its capacity (`quick_cache`'s
//! S3-FIFO: a token seen once leaves before one seen again).

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use sha2::{Digest as _, Sha256};

use crate::authz::Principal;

/// A token's SHA-256 digest: what the cache keeps of it.
pub(super) struct TokenKey([u8; 32]);

/// When a verified token passes every check that depends on the time, in seconds since the
/// epoch: from `from` to `exp` plus the leeway.
#[derive(Clone, Copy)]
pub(super) struct Lifetime {
    /// The first second it passes (`nbf`, `iat`, and without `iat` the longest lifetime
    /// before `exp`, all less the leeway).
    pub(super) from: u64,
    /// Its `exp`, rounded down.
    pub(super) exp: u64,
}

/// A verified token's caller and what a hit checks again.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    lifetime: Lifetime,
    /// The generation of the key set that verified the token.
    keys: u64,
    /// The entry's weight, computed once.
    weight: u64,
}

/// What an entry costs beyond the names of its caller: the key, the entry, the principal's
/// allocation and the cache's bookkeeping (its slot and its hash table row).
pub(super) const ENTRY_OVERHEAD: u64 = 160;

/// What each of the caller's scope and role names costs beyond its bytes: its box and the
/// allocator's rounding.
pub(super) const NAME_OVERHEAD: u64 = 32;

/// Weighs an entry by the weight it was given when inserted.
#[derive(Clone, Copy)]
struct Bytes;

impl Weighter<[u8; 32], Verified> for Bytes {
    fn weight(&self, _: &[u8; 32], verified: &Verified) -> u64 {
        verified.weight
    }
}

/// The tokens verified, up to a capacity in bytes; none if the capacity is zero.
pub(super) struct VerifiedTokens {
    cache: Option<Cache<[u8; 32], Verified, Bytes>>,
}

/// What [`VerifiedTokens::get`] found.
#[derive(Debug)]
pub(super) enum Lookup {
    /// The token was verified with the current keys, and the time is in its lifetime.
    Valid(Principal),
    /// The token was verified, but its `exp` (plus the leeway) is past.
    Expired { exp: u64 },
    /// Verify the token: it is not kept (`known: false`), or it was verified with keys
    /// replaced since or is before its lifetime (`known: true`: the clock was set back).
    Unknown { known: bool },
}

impl VerifiedTokens {
    /// A cache of about `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Self {
        let cache = (capacity > 0).then(|| {
            let capacity = capacity as u64;
            // A typical caller has a subject and a few scopes.
            let estimated = (capacity / (ENTRY_OVERHEAD + 4 * NAME_OVERHEAD + 64)).max(1);
            Cache::with_weighter(
                usize::try_from(estimated).unwrap_or(usize::MAX),
                capacity,
                Bytes,
            )
        });
        Self { cache }
    }

    /// The key of `token`; none if nothing is kept.
    pub(super) fn key(&self, token: &str) -> Option<TokenKey> {
        self.cache
            .as_ref()
            .map(|_| TokenKey(Sha256::digest(token.as_bytes()).into()))
    }

    /// What the cache knows of the token of `key` at `now` (seconds since the epoch), with
    /// the keys of generation `keys` in use and `leeway` seconds of clock skew tolerated on
    /// `exp`.
    pub(super) fn get(&self, key: &TokenKey, now: u64, keys: u64, leeway: u64) -> Lookup {
        let Some(verified) = self.cache.as_ref().and_then(|cache| cache.get(&key.0)) else {
            return Lookup::Unknown { known: false };
        };
        let Lifetime { from, exp } = verified.lifetime;
        if verified.keys != keys || from > now {
            Lookup::Unknown { known: true }
        } else if exp.saturating_add(leeway) < now {
            Lookup::Expired { exp }
        } else {
            Lookup::Valid(verified.principal)
        }
    }

    /// Remembers that the token of `key` verified with the keys of generation `keys` as
    /// `principal`, and may be used in `lifetime`.
    pub(super) fn insert(
        &self,
        key: TokenKey,
        principal: &Principal,
        lifetime: Lifetime,
        keys: u64,
    ) {
        if let Some(cache) = &self.cache {
            let names = principal
                .subject()
                .into_iter()
                .chain(principal.scopes())
                .chain(principal.roles())
                .map(|name| name.len() as u64 + NAME_OVERHEAD)
                .sum::<u64>();
            let verified = Verified {
                principal: principal.clone(),
                lifetime,
                keys,
                weight: ENTRY_OVERHEAD + names,
            };
            cache.insert(key.0, verified);
        }
    }

    /// Forgets the token of `key`.
    pub(super) fn remove(&self, key: &TokenKey) {
        if let Some(cache) = &self.cache {
            cache.remove(&key.0);
        }
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::len)
    }

    /// The weight of what is kept.
    #[cfg(test)]
    pub(super) fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weight)
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
