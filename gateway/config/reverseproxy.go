package config

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// ReverseProxy serves the Service Fabric Reverse Proxy's URL contract on the client listener, with no policy
// to write: http://gw/<ApplicationName>/<ServiceName>/<suffix>?PartitionKey=&PartitionKind=&ListenerName=
// &TargetReplicaSelector=&Timeout= (docs/reverse-proxy.md). Requests that an API matches go to the API.
type ReverseProxy struct {
	Pos Pos
	// Path is the mount point: "/" (default) serves /<App>/<Service>/... as SFRP does; "/sf" serves
	// /sf/<App>/<Service>/....
	Path string `yaml:"path"`
	// Cluster is the cluster whose services are reached, with the fields of a backend's serviceFabricCluster.
	Cluster *ServiceFabricCluster `yaml:"cluster"`
	// Expose chooses the services reachable: all (as SFRP), allowlist (the services Allow names) or labels
	// (the services whose service type opts in with the label sfgate.enable=true in its service manifest's
	// extension "sfgate"; docs/reverse-proxy.md lists the labels).
	Expose string `yaml:"expose"`
	// Allow are service-name patterns, such as fabric:/Shop/* (path.Match syntax over the name: '*' does not
	// cross '/', so fabric:/Shop/* is the services one level below fabric:/Shop). Required with expose:
	// allowlist; with all or labels, when given, only the services they match can be exposed (labels still opt
	// in), so a labelled service outside them stays unreachable.
	Allow []string `yaml:"allow"`
	// Refresh is how old the list of the cluster's services may grow while requests arrive: the first request
	// after it has passed starts a new listing in the background. Default 30s.
	Refresh time.Duration `yaml:"refresh"`
}

// Exposure modes of the reverse proxy.
const (
	ExposeAll       = "all"
	ExposeAllowlist = "allowlist"
	ExposeLabels    = "labels"
)

// DefaultReverseProxyRefresh is how often the reverse proxy re-reads the cluster's services by default.
const DefaultReverseProxyRefresh = 30 * time.Second

func applyReverseProxyDefaults(rp *ReverseProxy) {
	if rp == nil {
		return
	}
	setStr(&rp.Path, "/")
	setStr(&rp.Expose, ExposeAll)
	setDur(&rp.Refresh, DefaultReverseProxyRefresh)
	if rp.Cluster != nil {
		applyClusterDefaults(rp.Cluster)
	}
}

func checkReverseProxy(l *errorList, rp *ReverseProxy) {
	if rp == nil {
		return
	}
	const field = "reverseProxy"
	if !strings.HasPrefix(rp.Path, "/") || strings.Contains(rp.Path, "?") || strings.Contains(rp.Path, "//") {
		l.bad(field+".path", "%q is not a mount path: write / or a path such as /sf", rp.Path)
	}
	if rp.Cluster == nil {
		l.bad(field+".cluster", "required: the cluster whose services are reached, such as {managementEndpoints: [http://127.0.0.1:19080]}")
	} else {
		checkCluster(l, field+".cluster", rp.Cluster)
	}
	switch rp.Expose {
	case ExposeAll, ExposeLabels: // allow, when given, narrows them (docs/reverse-proxy.md)
	case ExposeAllowlist:
		if len(rp.Allow) == 0 {
			l.bad(field+".allow", "expose: allowlist needs at least one service-name pattern, such as fabric:/Shop/*")
		}
	default:
		l.bad(field+".expose", "%q is not all, allowlist or labels", rp.Expose)
	}
	for i, p := range rp.Allow {
		if !strings.HasPrefix(p, "fabric:/") {
			l.bad(fmt.Sprintf("%s.allow[%d]", field, i), "%q is not a service-name pattern: it starts with fabric:/, such as fabric:/Shop/*", p)
		} else if _, err := path.Match(p, ""); err != nil {
			l.bad(fmt.Sprintf("%s.allow[%d]", field, i), "%q: %v (path.Match syntax: *, ?, [a-z], \\ escapes)", p, err)
		}
	}
	if rp.Refresh < time.Second {
		l.bad(field+".refresh", "%s is too often: at least 1s (each refresh lists every application and service)", rp.Refresh)
	}
}
