package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/sfgate/sfgate/resolver"
)

// With reverseProxy.expose: labels a service is reachable only when its service type opts in, in its service
// manifest (docs/reverse-proxy.md, "Opting in with labels"):
//
//	<StatelessServiceType ServiceTypeName="WebType">
//	  <Extensions>
//	    <Extension Name="sfgate">
//	      <Labels xmlns="http://schemas.microsoft.com/2015/03/fabact-no-schema">
//	        <Label Key="sfgate.enable">true</Label>
//	        <Label Key="sfgate.pathPrefix">/web</Label>
//	        <Label Key="sfgate.listener">Public</Label>
//	        <Label Key="sfgate.replicaSelector">RandomInstance</Label>
//	      </Labels>
//	    </Extension>
//	  </Extensions>
//	</StatelessServiceType>
//
// Discovery reads, at each listing, each application's type (GetApplications), the manifest of each service
// type (GetServiceTypes names it, GetServiceManifest reads it) and keeps both per application type version,
// which never changes once provisioned.

// The sfgate extension and its labels.
const (
	labelsExtension      = "sfgate"
	labelEnable          = "sfgate.enable"
	labelPathPrefix      = "sfgate.pathPrefix"
	labelListener        = "sfgate.listener"
	labelReplicaSelector = "sfgate.replicaSelector"
)

// rpLabels is what a service type's sfgate labels ask for.
type rpLabels struct {
	enable      string // the value of sfgate.enable: "true", "false" or "" (absent)
	pathPrefix  string // "" or a path such as /web: the service is also served under it
	listener    string
	hasListener bool
	selector    string // "" or a TargetReplicaSelector
}

// parseLabels reads the sfgate extension among a service type's extensions; found is false when it has none.
// stateless is the service's kind (RandomInstance is for stateless services only). Any label it cannot use is
// an error, so that a typo does not expose a service differently from what its owner wrote.
func parseLabels(exts []resolver.Extension, stateless bool) (l rpLabels, found bool, err error) {
	seen := map[string]bool{}
	for _, e := range exts {
		if e.Name != labelsExtension {
			continue
		}
		if found {
			return l, true, fmt.Errorf("the service type has two %q extensions", labelsExtension)
		}
		found = true
		for _, lb := range e.Labels {
			v := strings.TrimSpace(lb.Value)
			if seen[lb.Key] {
				return l, true, fmt.Errorf("label %s is given twice", lb.Key)
			}
			seen[lb.Key] = true
			switch lb.Key {
			case labelEnable:
				switch strings.ToLower(v) {
				case "true", "false":
					l.enable = strings.ToLower(v)
				default:
					return l, true, fmt.Errorf("label %s is %q: write true or false", lb.Key, v)
				}
			case labelPathPrefix:
				p, err := checkPathPrefix(v)
				if err != nil {
					return l, true, fmt.Errorf("label %s is %q: %w", lb.Key, v, err)
				}
				l.pathPrefix = p
			case labelListener:
				l.listener, l.hasListener = v, true
			case labelReplicaSelector:
				switch v {
				case "PrimaryReplica", "RandomSecondaryReplica", "RandomReplica":
				case "RandomInstance":
					if !stateless {
						return l, true, fmt.Errorf("label %s is RandomInstance, which is for stateless services; this one is stateful: write PrimaryReplica, RandomSecondaryReplica or RandomReplica", lb.Key)
					}
				default:
					return l, true, fmt.Errorf("label %s is %q: write PrimaryReplica, RandomSecondaryReplica, RandomReplica or RandomInstance (the case matters)", lb.Key, v)
				}
				l.selector = v
			default:
				return l, true, fmt.Errorf("label %q is not one sfgate reads (%s, %s, %s, %s)", lb.Key, labelEnable, labelPathPrefix, labelListener, labelReplicaSelector)
			}
		}
	}
	return l, found, nil
}

// checkPathPrefix checks a sfgate.pathPrefix value and returns it without a trailing '/': segments of
// characters that a URL path carries as they are, at most maxNameSegments of them.
func checkPathPrefix(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("write a path such as /orders")
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", fmt.Errorf("/ alone would take every path: write a path such as /orders")
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > maxNameSegments {
		return "", fmt.Errorf("more than %d segments", maxNameSegments)
	}
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("empty, . or .. segment")
		}
		if strings.ContainsFunc(seg, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("?#%\\\"<>{}|^`[]", r) }) {
			return "", fmt.Errorf("segment %q holds a character that a URL path does not carry as it is", seg)
		}
	}
	return p, nil
}

// manifestReader reads service types and manifests (*resolver.Resolver does).
type manifestReader interface {
	ServiceTypes(ctx context.Context, appType, version string) (map[string]string, error)
	ServiceManifest(ctx context.Context, appType, version, manifest string) (*resolver.ServiceManifest, error)
}

type appTypeKey struct{ name, version string }

type manifestKey struct {
	appTypeKey
	manifest string
}

// manifestCache holds what discovery read of application type versions: immutable once provisioned, so
// kept while a listing still uses them. Used under reverseProxy.mu.
type manifestCache struct {
	types     map[appTypeKey]map[string]string // service type → manifest name
	manifests map[manifestKey]*resolver.ServiceManifest
}

// labelDiscovery is one listing's reading of labels: it takes what the cache has, reads the rest once (a
// failure is remembered for the listing), and becomes the cache, without the versions no service uses any
// more, when the listing succeeds.
type labelDiscovery struct {
	ctx    context.Context
	reader manifestReader
	old    *manifestCache
	next   manifestCache
	failed map[any]error
}

func newLabelDiscovery(ctx context.Context, reader manifestReader, old *manifestCache) *labelDiscovery {
	return &labelDiscovery{ctx: ctx, reader: reader, old: old, failed: map[any]error{},
		next: manifestCache{types: map[appTypeKey]map[string]string{}, manifests: map[manifestKey]*resolver.ServiceManifest{}}}
}

// cached looks k up in the listing's cache, then the previous one, then reads it with read.
func cached[K comparable, V any](d *labelDiscovery, next, old map[K]V, k K, read func() (V, error)) (V, error) {
	if v, ok := next[k]; ok {
		return v, nil
	}
	if v, ok := old[k]; ok {
		next[k] = v
		return v, nil
	}
	if err, ok := d.failed[k]; ok {
		var zero V
		return zero, err
	}
	v, err := read()
	if err != nil {
		d.failed[k] = err
		return v, err
	}
	next[k] = v
	return v, nil
}

// decide fills svc's exposure, reason and labels from its service type's manifest. It returns an error
// only when the manifest could not be read (the caller may keep the previous decision).
func (d *labelDiscovery) decide(in resolver.ServiceInfo, svc *rpService) error {
	if in.AppTypeName == "" || in.AppTypeVersion == "" {
		svc.why = "not exposed: GetApplications gave no type for " + in.Application + ", so its service manifests cannot be read"
		return nil
	}
	tk := appTypeKey{in.AppTypeName, in.AppTypeVersion}
	if d.reader == nil {
		return fmt.Errorf("the cluster's resolver cannot read service manifests")
	}
	types, err := cached(d, d.next.types, d.old.types, tk, func() (map[string]string, error) {
		return d.reader.ServiceTypes(d.ctx, tk.name, tk.version)
	})
	if err != nil {
		return fmt.Errorf("reading the service types of %s %s: %w", tk.name, tk.version, err)
	}
	name, ok := types[in.TypeName]
	if !ok {
		svc.why = fmt.Sprintf("not exposed: application type %s %s has no service type %s", tk.name, tk.version, in.TypeName)
		return nil
	}
	mk := manifestKey{tk, name}
	m, err := cached(d, d.next.manifests, d.old.manifests, mk, func() (*resolver.ServiceManifest, error) {
		return d.reader.ServiceManifest(d.ctx, tk.name, tk.version, name)
	})
	if err != nil {
		return fmt.Errorf("reading service manifest %s of %s %s: %w", name, tk.name, tk.version, err)
	}
	where := fmt.Sprintf("service manifest %s of %s %s (service type %s)", name, tk.name, tk.version, in.TypeName)
	exts, ok := m.ServiceTypes[in.TypeName]
	if !ok {
		svc.why = "not exposed: the service type is not declared in " + where
		return nil
	}
	l, found, err := parseLabels(exts, svc.stateless)
	switch {
	case err != nil:
		svc.why = "not exposed: invalid sfgate labels in " + where + ": " + err.Error()
	case !found:
		svc.why = "not exposed: no sfgate extension in " + where
	case l.enable == "":
		svc.why = "not exposed: no label " + labelEnable + " in " + where
	case l.enable == "false":
		svc.why = "not exposed: label " + labelEnable + "=false in " + where
	default:
		svc.exposed, svc.why = true, "label "+labelEnable+"=true in "+where
		svc.prefix = l.pathPrefix
		if l.hasListener {
			svc.listener = []byte(l.listener)
		}
		if l.selector != "" {
			svc.selector = []byte(l.selector)
		}
	}
	return nil
}

// claimPrefixes makes set.prefixes: each exposed service's sfgate.pathPrefix, unless two services claim the
// same one, in which case neither is served under it (and /debug/routes says so).
func (set *serviceSet) claimPrefixes() {
	claims := map[string][]*rpService{}
	for _, svc := range set.all {
		if svc.exposed && svc.prefix != "" {
			claims[svc.prefix] = append(claims[svc.prefix], svc)
		}
	}
	for p, svcs := range claims {
		if len(svcs) == 1 {
			if set.prefixes == nil {
				set.prefixes = map[string]*rpService{}
			}
			set.prefixes[p] = svcs[0]
			continue
		}
		names := make([]string, len(svcs))
		for i, svc := range svcs {
			names[i] = svc.name
		}
		for _, svc := range svcs {
			svc.why += "; " + labelPathPrefix + " " + p + " is claimed by " + strings.Join(names, " and ") + ", so none is served under it"
			svc.prefix = ""
		}
	}
}
