//! Accounts: account ID (its text) → account. Keys are the IDs' bytes, so a
//! listing runs in ID order; generated `acct_` IDs sort by creation time.

use super::{codec, SledStore, StoreError};
use crate::domain::{Account, AccountId};

impl SledStore {
    /// Stores a new account; false (nothing written) when the ID is taken.
    pub async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let key = account.id.as_str().as_bytes();
        let created = self
            .trees()?
            .accounts
            .compare_and_swap(key, None as Option<&[u8]>, Some(codec::encode(account)?))?
            .is_ok();
        if created {
            self.commit().await?;
        }
        Ok(created)
    }

    pub fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        codec::read(&self.trees()?.accounts, id.as_str().as_bytes())
    }

    /// Accounts in ID order, starting after `after`.
    pub fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StoreError> {
        let start = after
            .map(|id| id.as_str().as_bytes().to_vec())
            .unwrap_or_default();
        self.trees()?
            .accounts
            .range(start..)
            .filter(|entry| match (entry, after) {
                (Ok((key, _)), Some(after)) => key.as_ref() != after.as_str().as_bytes(),
                _ => true,
            })
            .take(limit)
            .map(|entry| codec::decode(&entry?.1))
            .collect()
    }

    pub async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        self.trees()?
            .accounts
            .insert(account.id.as_str().as_bytes(), codec::encode(account)?)?;
        self.commit().await
    }

    /// Removes an account record; false when there was none.
    pub async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError> {
        let removed = self
            .trees()?
            .accounts
            .remove(id.as_str().as_bytes())?
            .is_some();
        self.commit().await?;
        Ok(removed)
    }
}
