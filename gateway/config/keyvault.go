package config

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sfgate/sfgate/internal/keyvault"
)

// DefaultKeyVaultRefresh is how often Key Vault named values are fetched again unless keyVaultRefresh says
// otherwise (APIM's interval); MinKeyVaultRefresh is the shortest interval accepted.
const (
	DefaultKeyVaultRefresh = 4 * time.Hour
	MinKeyVaultRefresh     = time.Minute
)

// Loader loads configurations. A running gateway keeps one for its lifetime (start, every SIGHUP, every Key
// Vault refresh): its Key Vault client keeps the vault clients with their tokens and the last good value of
// each secret, so that a vault that cannot be reached on a reload or refresh leaves the last good value in use
// (with a warning) instead of failing. The zero value reads Key Vault through azidentity and logs nothing.
type Loader struct {
	// KeyVault reads keyVault: named values; nil: keyvault.New with Azure's defaults, made at first use.
	KeyVault *keyvault.Client
	// Log receives the warnings about Key Vault values kept because the vault did not give a new one
	// (naming the named value and the secret, never a value); nil: not logged.
	Log *slog.Logger

	once sync.Once
}

func (ld *Loader) keyVault() *keyvault.Client {
	ld.once.Do(func() {
		if ld.KeyVault == nil {
			ld.KeyVault = keyvault.New(keyvault.Options{})
		}
	})
	return ld.KeyVault
}

// resolveKeyVault fetches the value of the Key Vault named value nv (field is its place). A secret the vault
// does not give is a load error, unless this Loader fetched it before: then the last good value stays and a
// warning is logged.
func (ld *Loader) resolveKeyVault(ctx context.Context, l *errorList, name string, nv *NamedValue) {
	field := "namedValues." + name + ".keyVault"
	kv := nv.KeyVault
	if kv.SecretIdentifier == "" {
		l.bad(field+".secretIdentifier", "required: the secret's URL, https://<vault>.vault.azure.net/secrets/<name>[/<version>]")
		l.broken = append(l.broken, "namedValues."+name)
		return
	}
	id, err := keyvault.ParseSecretID(kv.SecretIdentifier)
	if err != nil {
		l.bad(field+".secretIdentifier", "%v", err)
		l.broken = append(l.broken, "namedValues."+name)
		return
	}
	kv.ref = keyvault.Ref{ID: id, IdentityClientID: kv.IdentityClientID}
	v, err := ld.keyVault().Fetch(ctx, kv.ref)
	if err != nil && v == "" {
		l.bad(field, "%v", err)
		l.broken = append(l.broken, "namedValues."+name)
		return
	}
	if err != nil {
		ld.warnKept(name, err)
	}
	nv.Value, nv.Secret = v, true
}

func (ld *Loader) warnKept(name string, err error) {
	if ld.Log != nil {
		ld.Log.Warn("Key Vault did not give the named value; its last good value stays in use", "namedValue", name, "error", err.Error())
	}
}

// RefreshKeyVault fetches again the Key Vault named values of cfg (loaded by ld) whose identifiers name no
// version. When a value changed it returns a copy of cfg with the new values, for gateway.Reload, and the names
// of the values that changed; otherwise nil. A secret the vault does not give keeps its value, with a warning.
func (ld *Loader) RefreshKeyVault(ctx context.Context, cfg *Config) (next *Config, changed []string) {
	for _, name := range slices.Sorted(maps.Keys(cfg.NamedValues)) {
		nv := cfg.NamedValues[name]
		if nv == nil || nv.KeyVault == nil || nv.KeyVault.ref.ID.Name == "" || nv.KeyVault.ref.ID.Version != "" {
			continue
		}
		v, err := ld.keyVault().Fetch(ctx, nv.KeyVault.ref)
		if err == nil && len(v) < MinSecretLen {
			err = errors.New(shortSecret)
		}
		if err != nil {
			if ctx.Err() == nil {
				ld.warnKept(name, err)
			}
			continue
		}
		if v == nv.Value {
			continue
		}
		if next == nil {
			copied := *cfg
			next = &copied
			next.NamedValues = maps.Clone(cfg.NamedValues)
		}
		fresh := *nv
		fresh.Value = v
		next.NamedValues[name] = &fresh
		changed = append(changed, name)
	}
	return next, changed
}
