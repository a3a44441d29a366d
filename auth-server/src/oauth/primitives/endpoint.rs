//! The four primitives as oxide-auth-async's flows want them: one
//! endpoint for the authorization request and the three token grants.

use oxide_auth_async::code_grant::{access_token, authorization, client_credentials, refresh};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};

use super::{ClientRegistrar, CodeAuthorizer, GrantChecks, GrantIssuer};
use crate::oauth::GrantContext;

/// Our endpoint as oxide-auth-async's flows see it: the authorization
/// request and the three token grants it drives.
pub struct GrantEndpoint<'s> {
    registrar: ClientRegistrar<'s>,
    authorizer: CodeAuthorizer<'s>,
    issuer: GrantIssuer<'s>,
    checks: GrantChecks<'s>,
}

impl<'s> GrantEndpoint<'s> {
    pub fn new(context: &'s GrantContext<'s>) -> GrantEndpoint<'s> {
        GrantEndpoint {
            registrar: ClientRegistrar::new(context),
            authorizer: CodeAuthorizer::new(context),
            issuer: GrantIssuer::new(context),
            checks: GrantChecks::new(context),
        }
    }
}

impl authorization::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn extension(&mut self) -> &mut (dyn authorization::Extension + Send) {
        &mut self.checks
    }
}

impl access_token::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut (dyn access_token::Extension + Send) {
        &mut self.checks
    }
}

impl refresh::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
}

impl client_credentials::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut (dyn client_credentials::Extension + Send) {
        &mut self.checks
    }
}
