// Package keyvault fetches the secrets that Key Vault named values refer to (namedValues: {keyVault:
// {secretIdentifier}}), through the Azure SDK's Key Vault secrets client and an azidentity credential. It is
// step 0 of the data flow in docs/design.md §1, beside the configuration file: gateway/config calls it while a
// configuration loads (at start and on SIGHUP) and when the Key Vault values are refreshed, and the values then
// go into {{name}} substitution like any other named value. A Client remembers the last value it fetched for
// each secret, so that a vault that cannot be reached later leaves the gateway serving the last good value.
//
// Nothing here logs or formats a secret's value: errors name the vault and the secret only.
package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// DefaultTimeout bounds one fetch (the token request, retries and the secret request together) when
// Options.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Ref is one Key Vault named value's reference: the secret and the identity to read it with.
type Ref struct {
	ID SecretID
	// IdentityClientID is the client ID of the user-assigned managed identity to read the secret with (APIM's
	// identityClientId); "" uses azidentity's DefaultAzureCredential (environment, workload identity, managed
	// identity, Azure CLI).
	IdentityClientID string
}

// Options configure a Client; the zero value reads from Azure Key Vault.
type Options struct {
	// Credential returns the credential for an identity client ID ("" for the default one). nil: azidentity,
	// as Ref.IdentityClientID describes. It is called once per identity.
	Credential func(identityClientID string) (azcore.TokenCredential, error)
	// Client configures the Key Vault clients: transport, retries, and DisableChallengeResourceVerification for a
	// vault whose host is not under vault.azure.net (a test's fake vault).
	Client azsecrets.ClientOptions
	// Timeout bounds one fetch, retries included (DefaultTimeout).
	Timeout time.Duration
}

// Client fetches secrets; it keeps one Key Vault client per vault and identity (so tokens are reused) and the
// last value fetched for each Ref. It is safe for concurrent use.
type Client struct {
	opts Options

	mu      sync.Mutex
	creds   map[string]azcore.TokenCredential // by identity client ID
	clients map[Ref]*azsecrets.Client         // by vault and identity (ID.Name and ID.Version empty)
	last    map[Ref]string                    // last value fetched, by Ref
}

// New returns a Client with opts.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Client{opts: opts, creds: map[string]azcore.TokenCredential{}, clients: map[Ref]*azsecrets.Client{},
		last: map[Ref]string{}}
}

// Error is a secret that could not be fetched. Its text names the secret and the vault, never a value.
type Error struct {
	Ref Ref
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("Key Vault secret %s: %s", e.Ref.ID, describe(e.Err))
}

func (e *Error) Unwrap() error { return e.Err }

// Fetch returns the current value of the secret ref names (the latest version unless ref pins one). When
// the vault does not give it, err (an *Error) says why and value is the last value this Client fetched for
// ref, or "" when there is none: a caller that already served that value may keep it.
func (c *Client) Fetch(ctx context.Context, ref Ref) (value string, err error) {
	client, err := c.client(ref)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		var resp azsecrets.GetSecretResponse
		resp, err = client.GetSecret(ctx, ref.ID.Name, ref.ID.Version, nil)
		switch {
		case err != nil:
		case resp.Value == nil:
			err = errors.New("the vault's answer has no value")
		case *resp.Value == "":
			err = errors.New("the secret is empty")
		default:
			c.mu.Lock()
			c.last[ref] = *resp.Value
			c.mu.Unlock()
			return *resp.Value, nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[ref], &Error{Ref: ref, Err: err}
}

// client returns the Key Vault client for ref's vault and identity, making it (and the credential) at first use.
func (c *Client) client(ref Ref) (*azsecrets.Client, error) {
	key := Ref{ID: SecretID{Vault: ref.ID.Vault}, IdentityClientID: ref.IdentityClientID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[key]; cl != nil {
		return cl, nil
	}
	cred := c.creds[ref.IdentityClientID]
	if cred == nil {
		newCred := c.opts.Credential
		if newCred == nil {
			newCred = azureCredential
		}
		var err error
		if cred, err = newCred(ref.IdentityClientID); err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
		c.creds[ref.IdentityClientID] = cred
	}
	opts := c.opts.Client
	cl, err := azsecrets.NewClient(ref.ID.Vault, cred, &opts)
	if err != nil {
		return nil, err
	}
	c.clients[key] = cl
	return cl, nil
}

// azureCredential is the credential for an identity: the user-assigned managed identity with that client ID,
// or DefaultAzureCredential for "".
func azureCredential(identityClientID string) (azcore.TokenCredential, error) {
	if identityClientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(identityClientID)})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// describe shortens the SDK's errors to one line: a vault's refusal becomes its status and error code (with a
// hint for the common ones), others lose their line breaks.
func describe(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("the vault answered %d %s", re.StatusCode, re.ErrorCode)
		switch re.StatusCode {
		case http.StatusUnauthorized:
			msg += " (the token was refused: check the identity's tenant)"
		case http.StatusForbidden:
			msg += " (the identity may not read this secret: grant it the Key Vault Secrets User role or a get-secret access policy)"
		case http.StatusNotFound:
			msg += " (no such secret or version in this vault)"
		}
		return msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer from the vault in time"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
