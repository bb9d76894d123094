package fakesf

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/websocket"
)

// Replicas answer three kinds of request with a stream instead of the JSON echo (docs/fakesf.md, "Streams"):
//
//   - X-Fakesf-Body-Bytes: N: the answer's body is N bytes of BodyPattern (Content-Length N), written as the
//     client reads it, so that a download of any size costs the replica a few KB (the request body is read
//     and dropped first);
//   - Accept: text/event-stream: server-sent events; a first event "replica" carries the ReplicaResponse JSON at
//     once, then each SendEvent for the replica is one "data:" event, until EndEvents, the client goes or the
//     cluster closes;
//   - Upgrade: websocket: a WebSocket (RFC 6455) whose first text message is the ReplicaResponse JSON; then
//     every message is echoed.

// HeaderBodyBytes asks a replica for an answer of that many bytes of BodyPattern.
const HeaderBodyBytes = "X-Fakesf-Body-Bytes"

// BodyPattern is what an X-Fakesf-Body-Bytes answer repeats (its last copy cut at the length asked for).
const BodyPattern = "0123456789abcdef"

// patternBlock is BodyPattern repeated to 32 KiB, written block by block.
var patternBlock = []byte(strings.Repeat(BodyPattern, 32<<10/len(BodyPattern)))

// eventStreams is a replica's open server-sent-event answers, for SendEvent.
type eventStreams struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
}

func (e *eventStreams) add() chan string {
	ch := make(chan string, 16)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil {
		e.subs = map[chan string]struct{}{}
	}
	e.subs[ch] = struct{}{}
	return ch
}

func (e *eventStreams) remove(ch chan string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.subs, ch)
}

// SendEvent sends data (one line) as an event on every server-sent-event answer the replica (by replica or
// instance ID) has open, and returns how many got it.
func (c *Cluster) SendEvent(replicaID int64, data string) (int, error) {
	if strings.ContainsAny(data, "\r\n") {
		return 0, fmt.Errorf("fakesf: event data %q: one line, no line breaks", data)
	}
	r, err := c.replicaByID(replicaID)
	if err != nil {
		return 0, err
	}
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	n := 0
	for ch := range r.events.subs {
		select {
		case ch <- data:
			n++
		default: // a stream 16 events behind is not waited for
		}
	}
	return n, nil
}

// EndEvents ends every server-sent-event answer the replica (by replica or instance ID) has open, as a server
// that finishes its answer, and returns how many it ended.
func (c *Cluster) EndEvents(replicaID int64) (int, error) {
	r, err := c.replicaByID(replicaID)
	if err != nil {
		return 0, err
	}
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	n := len(r.events.subs)
	for ch := range r.events.subs {
		close(ch)
		delete(r.events.subs, ch)
	}
	return n, nil
}

// replicaByID finds a replica by replica or instance ID.
func (c *Cluster) replicaByID(id int64) (*replica, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.findReplica(id); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("fakesf: no replica or instance with ID %d", id)
}

// stream answers the request with one of the streams above; false when it asks for none.
func (h *replicaHandler) stream(w http.ResponseWriter, req *http.Request, resp ReplicaResponse, fault ReplicaFault) bool {
	switch {
	case strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
		h.webSocket(w, req, resp)
	case req.Header.Get(HeaderBodyBytes) != "":
		h.bodyBytes(w, req, fault.CutAnswerAfter)
	case strings.Contains(req.Header.Get("Accept"), "text/event-stream"):
		h.events(w, req, resp)
	default:
		return false
	}
	return true
}

func (h *replicaHandler) bodyBytes(w http.ResponseWriter, req *http.Request, cutAfter int64) {
	n, err := strconv.ParseInt(req.Header.Get(HeaderBodyBytes), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "fakesf replica: "+HeaderBodyBytes+" must be a byte count (0 or more)", http.StatusBadRequest)
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.Header().Set("X-Fakesf-Replica", strconv.FormatInt(h.r.id, 10))
	for sent := int64(0); sent < n; {
		b := patternBlock[:min(int64(len(patternBlock)), n-sent)]
		if cutAfter > 0 && sent+int64(len(b)) > cutAfter {
			b = b[:cutAfter-sent]
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if sent += int64(len(b)); sent == cutAfter {
			dropConnection(w) // the head and the bytes so far are flushed first
			return
		}
	}
}

func (h *replicaHandler) events(w http.ResponseWriter, req *http.Request, resp ReplicaResponse) {
	ch := h.r.events.add()
	defer h.r.events.remove(ch)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	first, _ := json.Marshal(resp)
	if _, err := fmt.Fprintf(w, "event: replica\ndata: %s\n\n", first); err != nil || rc.Flush() != nil {
		return
	}
	for {
		select {
		case data, open := <-ch:
			if !open { // EndEvents
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil || rc.Flush() != nil {
				return
			}
		case <-req.Context().Done():
			return
		case <-h.c.closed:
			return
		}
	}
}

func (h *replicaHandler) webSocket(w http.ResponseWriter, req *http.Request, resp ReplicaResponse) {
	first, _ := json.Marshal(resp)
	srv := websocket.Server{Handler: func(ws *websocket.Conn) {
		defer ws.Close()
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-h.c.closed: // a hijacked connection is not closed with the replica's server
				ws.Close()
			case <-done:
			}
		}()
		if err := websocket.Message.Send(ws, string(first)); err != nil {
			return
		}
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			send := any(msg)
			if ws.PayloadType == websocket.TextFrame {
				send = string(msg)
			}
			if err := websocket.Message.Send(ws, send); err != nil {
				return
			}
		}
	}}
	srv.ServeHTTP(w, req)
}
