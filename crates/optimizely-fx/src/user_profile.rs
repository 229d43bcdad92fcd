//! Sticky bucketing: the [`UserProfileService`] a client can be given to remember, per user,
//! which variation of each experiment the user was bucketed into.

use std::error::Error;
use std::sync::Arc;

pub use optimizely_fx_core::decide::UserProfile;

/// The error type [`UserProfileService`] implementations return.
pub type UserProfileError = Box<dyn Error + Send + Sync>;

/// Storage for [`UserProfile`]s: experiment id → variation id per user.
///
/// With a service set ([`ClientBuilder::user_profile_service`](crate::ClientBuilder::user_profile_service)),
/// each `decide`, `decide_for_keys` or `decide_all` call looks the user's profile up exactly
/// once (before deciding) and saves it at most once (after deciding, only if a new bucketing
/// decision was recorded). A user already in the profile for an experiment keeps that
/// variation, even if traffic allocation changed since. The
/// [`IgnoreUserProfileService`](crate::DecideOption::IgnoreUserProfileService) option skips
/// both calls.
///
/// Errors are logged and treated as "no profile" (lookup) or ignored (save): a failing
/// service never fails a decision. Calls run on the deciding thread; keep them fast.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use optimizely_fx::{UserProfile, UserProfileError, UserProfileService};
///
/// #[derive(Default)]
/// struct InMemory(Mutex<HashMap<String, UserProfile>>);
///
/// impl UserProfileService for InMemory {
///     fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError> {
///         Ok(self.0.lock().map_err(|e| e.to_string())?.get(user_id).cloned())
///     }
///
///     fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError> {
///         let mut profiles = self.0.lock().map_err(|e| e.to_string())?;
///         profiles.insert(profile.user_id.clone(), profile.clone());
///         Ok(())
///     }
/// }
/// ```
pub trait UserProfileService: Send + Sync {
    /// The stored profile of `user_id`, or `None` if there is none.
    ///
    /// # Errors
    ///
    /// Any failure of the storage; it is logged and decide goes on with an empty profile.
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError>;

    /// Stores `profile` (replacing the user's earlier profile).
    ///
    /// # Errors
    ///
    /// Any failure of the storage; it is logged and otherwise ignored.
    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError>;
}

/// The profile decide starts from: the stored one, or an empty one when there is none or the
/// lookup failed (logged).
pub(crate) fn load_profile(service: &Arc<dyn UserProfileService>, user_id: &str) -> UserProfile {
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.lookup(user_id)));
    match loaded {
        Ok(Ok(Some(profile))) => UserProfile::from_map(user_id, profile.experiment_bucket_map),
        Ok(Ok(None)) => UserProfile::new(user_id),
        Ok(Err(error)) => {
            log::error!("Error while looking up user profile for user ID \"{user_id}\": {error}.");
            UserProfile::new(user_id)
        }
        Err(_) => {
            log::error!(
                "Error while looking up user profile for user ID \"{user_id}\": the service panicked."
            );
            UserProfile::new(user_id)
        }
    }
}

/// Saves `profile` if decide recorded a new bucketing decision in it.
pub(crate) fn save_profile(service: &Arc<dyn UserProfileService>, profile: &mut UserProfile) {
    if !profile.is_updated() {
        return;
    }
    let user_id = profile.user_id.clone();
    let saved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.save(profile)));
    match saved {
        Ok(Ok(())) => profile.mark_saved(),
        Ok(Err(error)) => {
            log::error!("Error while saving user profile for user ID \"{user_id}\": {error}.");
        }
        Err(_) => log::error!(
            "Error while saving user profile for user ID \"{user_id}\": the service panicked."
        ),
    }
}
