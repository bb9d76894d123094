package resolver

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions selects and configures an azidentity credential for Azure AD clusters.
type CredentialOptions struct {
	// Kind is one of:
	//   "default"  – azidentity.DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI…)
	//   "secret"   – client secret: TenantID, ClientID, ClientSecret required
	//   "managed"  – managed identity: ClientID optional (user-assigned identity)
	//   "workload" – workload identity (AZURE_FEDERATED_TOKEN_FILE etc.; TenantID/ClientID override the environment)
	//   "cli"      – the signed-in Azure CLI
	Kind                     string
	TenantID                 string
	ClientID                 string
	ClientSecret             string
	DisableInstanceDiscovery bool                 // skip the authority's instance discovery (private clouds, tests)
	ClientOptions            azcore.ClientOptions // cloud (authority host), transport, retries of the token requests
}

// CredentialKinds lists the accepted CredentialOptions.Kind values.
var CredentialKinds = []string{"default", "secret", "managed", "workload", "cli"}

// NewCredential builds the credential described by o. The result goes into Auth.Credential.
func NewCredential(o CredentialOptions) (azcore.TokenCredential, error) {
	switch strings.ToLower(o.Kind) {
	case "default", "":
		return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: o.ClientOptions, TenantID: o.TenantID, DisableInstanceDiscovery: o.DisableInstanceDiscovery,
		})
	case "secret":
		var missing []string
		for _, f := range []struct{ name, v string }{{"tenant ID", o.TenantID}, {"client ID", o.ClientID}, {"client secret", o.ClientSecret}} {
			if f.v == "" {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("client secret credential: missing %s", strings.Join(missing, ", "))
		}
		return azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: o.ClientOptions, DisableInstanceDiscovery: o.DisableInstanceDiscovery})
	case "managed":
		opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: o.ClientOptions}
		if o.ClientID != "" {
			opts.ID = azidentity.ClientID(o.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(opts)
	case "workload":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: o.ClientOptions, TenantID: o.TenantID, ClientID: o.ClientID, DisableInstanceDiscovery: o.DisableInstanceDiscovery,
		})
	case "cli":
		return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: o.TenantID})
	}
	return nil, fmt.Errorf("unknown Azure AD credential kind %q (want one of %s)", o.Kind, strings.Join(CredentialKinds, ", "))
}
