//! The only user of bincode: every stored value is one format-version byte
//! followed by the bincode encoding, so records can be migrated later.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

const FORMAT_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![FORMAT_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| StoreError::Codec(e.to_string()))?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// The record stored under `key`, if any.
pub fn read<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|bytes| decode(&bytes)).transpose()
}

/// Up to `limit` records in key order, starting just after `after` (a page
/// of a list route whose cursor is the last key of the previous page).
pub fn page<T: DeserializeOwned>(
    tree: &sled::Tree,
    after: Option<[u8; 16]>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let start = after.map(|key| key.to_vec()).unwrap_or_default();
    tree.range(start..)
        .filter(|entry| match (entry, after) {
            (Ok((key, _)), Some(after)) => key.as_ref() != after,
            _ => true,
        })
        .take(limit)
        .map(|entry| decode(&entry?.1))
        .collect()
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => {
            bincode::serde::decode_from_slice(body, bincode::config::standard())
                .map(|(value, _)| value)
                .map_err(|e| StoreError::Codec(e.to_string()))
        }
        Some((version, _)) => Err(StoreError::Codec(format!(
            "record format {version} is not known to this build"
        ))),
        None => Err(StoreError::Codec("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        count: Option<u32>,
    }

    #[test]
    fn round_trips_with_a_version_byte() {
        let sample = Sample {
            name: "x".into(),
            count: Some(3),
        };
        let bytes = encode(&sample).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), sample);
    }

    #[test]
    fn refuses_unknown_versions() {
        let mut bytes = encode(&Sample {
            name: "x".into(),
            count: None,
        })
        .unwrap();
        bytes[0] = 99;
        assert!(decode::<Sample>(&bytes).is_err());
        assert!(decode::<Sample>(&[]).is_err());
    }
}
