use crate::domain::SignatureStyle;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
pub fn hmac_sha256(key: &[u8], m: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("k");
    mac.update(m);
    mac.finalize().into_bytes().into()
}
pub fn style_signature(style: SignatureStyle, secret: &str, body: &[u8]) -> String {
    let h = hex::encode(hmac_sha256(secret.as_bytes(), body));
    match style {
        SignatureStyle::Sha256Prefixed => format!("sha256={h}"),
        _ => h,
    }
}
pub fn standard_webhooks_signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut m = format!("{id}.{ts}.").into_bytes();
    m.extend_from_slice(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &m))
    )
}
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
