//! The registrar: clients from the `clients` table, bound to an exactly
//! registered redirect URI, their scope negotiated, their secret checked.

use std::borrow::Cow;

use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, RegistrarError,
};
use oxide_auth::primitives::scope::Scope as OxideScope;
use oxide_auth_async::primitives::Registrar;
use rocket::async_trait;

use super::extensions::{NO_REDIRECT, to_oxide};
use super::flow::Flow;
use crate::oauth::{client_auth, scope_rules};

/// oxide-auth's `Registrar` over the `clients` table.
pub struct ClientRegistrar<'s> {
    flow: &'s Flow<'s>,
}

impl<'s> ClientRegistrar<'s> {
    pub fn new(flow: &'s Flow<'s>) -> ClientRegistrar<'s> {
        ClientRegistrar { flow }
    }
}

#[async_trait]
impl Registrar for ClientRegistrar<'_> {
    /// Binds a client to a redirect URI registered for it, compared as an
    /// exact string (RFC 9700 §2.1: no prefix, no normalisation). Without a
    /// redirect URI, the grant redirects nowhere.
    async fn bound_redirect<'a>(
        &self,
        bound: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self
            .flow
            .load_client(&bound.client_id)
            .await?
            .ok_or(RegistrarError::Unspecified)?;
        let redirect_uri = match bound.redirect_uri {
            Some(uri)
                if client
                    .metadata
                    .redirect_uris
                    .iter()
                    .any(|r| r == uri.as_str()) =>
            {
                uri.into_owned()
            }
            Some(_) => return Err(RegistrarError::Unspecified),
            None => {
                ExactUrl::new(NO_REDIRECT.to_owned()).map_err(|_| RegistrarError::PrimitiveError)?
            }
        };
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(redirect_uri)),
        })
    }

    /// What the client asks for ([`scope_rules::asked`]): the requested
    /// scope if it is registered for all of it, or its registered scopes;
    /// never nothing.
    async fn negotiate<'a>(
        &self,
        bound: BoundClient<'a>,
        scope: Option<OxideScope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self
            .flow
            .load_client(&bound.client_id)
            .await?
            .ok_or(RegistrarError::Unspecified)?;
        let requested = scope.map(|s| s.to_string());
        let granted =
            scope_rules::asked(requested.as_deref(), &client.metadata.scopes).map_err(|error| {
                self.flow.refuse(error);
                RegistrarError::Unspecified
            })?;
        Ok(PreGrant {
            client_id: client.id,
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: to_oxide(&granted).map_err(|()| RegistrarError::PrimitiveError)?,
        })
    }

    /// A secret client must present its secret, a public one none; a key
    /// client's assertion was checked before the flow.
    async fn check(
        &self,
        client_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(), RegistrarError> {
        if let Some(client) = self.flow.asserted(client_id) {
            self.flow.authenticated_as(client);
            return Ok(());
        }
        let secret = match passphrase.map(std::str::from_utf8) {
            Some(Err(_)) => return Err(RegistrarError::Unspecified),
            Some(Ok(secret)) => Some(secret),
            None => None,
        };
        let client = self.flow.load_client(client_id).await?;
        let client = client_auth::verify(client, secret).ok_or(RegistrarError::Unspecified)?;
        self.flow.authenticated_as(client);
        Ok(())
    }
}
