//! [`SecretsManager`]: the [`SecretSource`] port over AWS Secrets Manager, read once at init (the
//! dedupe-loader's PostgreSQL credentials, `LOGLIFT_POSTGRES_SECRET_ARN`). What a secret holds is
//! its reader's business: this adapter returns the text and never logs or quotes it.

use loglift_ports::{PortError, PortResult, SecretSource};

use crate::error::port_error;

/// Reads secrets with `GetSecretValue` (the `AWSCURRENT` version).
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    /// An adapter over a client built once (see [`crate::secrets_client`]).
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        SecretsManager { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_secretsmanager::Client {
        &self.client
    }
}

impl SecretSource for SecretsManager {
    /// The current string value of `secret_id` (a name or an ARN). A secret stored as binary,
    /// or with no value, is rejected; a missing one is [`PortError::NotFound`]; access denied
    /// (the role lacks `secretsmanager:GetSecretValue`, or `kms:Decrypt` on its key) is rejected.
    async fn secret_string(&self, secret_id: &str) -> PortResult<String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| port_error("GetSecretValue", secret_id, e))?;
        match out.secret_string() {
            Some(text) if !text.is_empty() => Ok(text.to_owned()),
            _ => Err(PortError::Rejected {
                op: "GetSecretValue",
                target: secret_id.to_owned(),
                message: if out.secret_binary().is_some() {
                    "the secret is binary; a JSON string is expected".to_owned()
                } else {
                    "the secret has no value".to_owned()
                },
                source: None,
            }),
        }
    }
}
