function verifySignature(payload, signature) {
  const payloadStr = JSON.stringify(payload);
  const expectedSignature = crypto
    .createHmac('sha256', SHARED_SECRET)
    .update(payloadStr)
    .digest('hex');

  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expectedSignature)
  );
}
