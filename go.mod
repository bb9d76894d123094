module github.com/sfgate/sfgate

go 1.26.8

require (
	github.com/Azure/azure-sdk-for-go/sdk/azcore v1.24.0 // resolver: management-call pipeline (request IDs, logging, bearer-token policy)
	github.com/Azure/azure-sdk-for-go/sdk/azidentity v1.15.0 // resolver: Azure AD credentials for secured clusters; internal/keyvault: the identity that reads Key Vault secrets
	github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets v1.5.1 // internal/keyvault: Key Vault named values, Microsoft's client (challenge-based auth, REST shape, retries)
	github.com/cenkalti/backoff/v4 v4.3.0 // resolver failover and gateway re-resolution: bounded, jittered backoff
	github.com/go-jose/go-jose/v4 v4.1.3 // gateway validate-jwt: reads the JWK sets OpenID providers publish (RSA, EC, Ed25519), no dependencies of its own
	github.com/golang-jwt/jwt/v5 v5.3.1 // fakesf: verifies bearer tokens (secured mode); gateway validate-jwt: signature, exp/nbf with clock skew, algorithm families
	github.com/hashicorp/golang-lru/v2 v2.0.7 // resolver: bounded caches of schemes and snapshots, eviction counted
	github.com/valyala/fasthttp v1.77.0 // gateway data path: server and pooled keep-alive clients, no allocation per request
	golang.org/x/net v0.62.0 // fakesf: replicas answer WebSocket (RFC 6455) upgrades; gateway tests are its clients
	golang.org/x/sync v0.24.0 // resolver: singleflight, one naming call per partition however many requests miss
	gopkg.in/yaml.v3 v3.0.1 // gateway config and fakesf topologies, decoded via yaml.Node for file:line errors
)

require (
	github.com/Azure/azure-sdk-for-go/sdk/internal v1.13.0 // indirect
	github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/internal v1.2.0 // indirect
	github.com/AzureAD/microsoft-authentication-library-for-go v1.10.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/molecule-man/go-brrr v1.3.0 // indirect
	github.com/pkg/browser v0.0.0-20240102092130-5ac0b6a4141c // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
