package fakesf

import "net/http"

// ReplicaEvent is one step of one request at a replica, for tests that count what the replicas really did
// (how many times a request ran, whether a failed one ever arrived).
type ReplicaEvent struct {
	Stage     Stage
	ReplicaID int64
	Method    string
	Header    http.Header // the request's headers as received (do not modify)
	// BodySHA256 is the hex SHA-256 of the whole body; set only at StageExecuted.
	BodySHA256 string
}

// Stage says how far a request got at a replica.
type Stage int

const (
	// StageReceived: the replica's handler started (the request head arrived), before any fault applies.
	StageReceived Stage = iota
	// StageExecuted: the replica read the whole body and is about to answer; the request ran.
	StageExecuted
)

// WithReplicaObserver calls fn for every request a replica receives (StageReceived) and again when it has run
// it (StageExecuted). fn runs on the replica's serving goroutine and must be safe for concurrent use.
func WithReplicaObserver(fn func(ReplicaEvent)) Option {
	return func(c *config) { c.observer = fn }
}

func (c *Cluster) observe(stage Stage, r *replica, req *http.Request, bodySHA256 string) {
	if fn := c.cfg.observer; fn != nil {
		fn(ReplicaEvent{Stage: stage, ReplicaID: r.id, Method: req.Method, Header: req.Header, BodySHA256: bodySHA256})
	}
}

// ManagementEvent is one management API request as it arrived, for tests that check what a client presented.
type ManagementEvent struct {
	Method, Path string
	// ClientCertThumbprint is the SHA-1 thumbprint (Thumbprint) of the client certificate of the request's TLS
	// connection; "" without one.
	ClientCertThumbprint string
}

// WithManagementObserver calls fn for every management API request whose operation the cluster recognises,
// before it checks the credentials. fn runs on the serving goroutine and must be safe for concurrent use.
func WithManagementObserver(fn func(ManagementEvent)) Option {
	return func(c *config) { c.mgmtObserver = fn }
}

func (c *Cluster) observeManagement(r *http.Request) {
	fn := c.cfg.mgmtObserver
	if fn == nil {
		return
	}
	e := ManagementEvent{Method: r.Method, Path: r.URL.Path}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		e.ClientCertThumbprint = Thumbprint(r.TLS.PeerCertificates[0].Raw)
	}
	fn(e)
}
