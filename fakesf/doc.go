// Package fakesf is a fake Service Fabric cluster for tests and demos: SF's HTTP management API (the naming and
// query calls a gateway resolver makes, and SF's own fault calls) on one port, and one real HTTP server per replica
// listener on each node's own loopback IP.
//
// Place in the data flow (docs/design.md §1): the gateway's resolver talks to fakesf exactly as it talks to a
// cluster's HTTP gateway (port 19080): GetPartitions, ResolvePartition (with PreviousRspVersion complaints), and
// then the gateway forwards requests to the replica URLs published in the resolved Address strings. fakesf
// imports nothing of this module, so it stays an independent check of the resolver and gateway.
//
// # Go API
//
//	c, err := fakesf.Start(ctx, fakesf.DefaultTopology())   // options: WithListenAddr("127.0.0.1:19080"), ...
//	defer c.Close()
//	c.URL()                                     // "http://127.0.0.1:41234"
//	parts, _ := c.Partitions("fabric:/Shop/Orders")  // []PartitionState: IDs, ranges, Version, replicas, URLs
//
//	// faults (the same as the HTTP fault calls below; errors are *FabricError)
//	c.MovePrimary(partitionID, "")              // "" = any live secondary; or a node name
//	c.RestartReplica(nodeName, partitionID, replicaID)
//	c.StopNode("_Node_1"); c.StartNode("_Node_1"); c.RestartNode("_Node_1", 0)
//	c.MoveSecondary(partitionID, "_Node_1", "")  // "" = any up node without a replica of the partition
//	c.MoveInstance("fabric:/Shop/Web", partitionID, "", "_Node_4")
//	c.RemoveReplica(nodeName, partitionID, replicaID) // replaced by a new replica, as SF's FM does
//
//	// lifecycle (the same as the HTTP calls)
//	c.CreateApplication("fabric:/Tools", "ToolsType", "2.0.0", nil)
//	c.CreateService("fabric:/Tools", fakesf.Service{Name: "fabric:/Tools/Cache", TypeName: "CacheType", ...})
//	c.UpdateService("fabric:/Tools/Cache", 5, 0); c.DeleteApplication("fabric:/Tools")
//	c.DeleteService("fabric:/Shop/Web")          // later calls naming it: 404 FABRIC_E_SERVICE_DOES_NOT_EXIST
//
//	// fake-only knobs
//	c.SetResolveDelay(200 * time.Millisecond)
//	c.SetNamingFault(fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", Count: 2})
//	c.SetNamingFault(fakesf.NamingFault{Drop: true})   // close the connection; NamingFault{} clears
//	c.SetNamingCache(fakesf.NamingCache{Stale: true}) // stale answers until a PreviousRspVersion complaint
//	c.SetAutoFailover(false)                          // a stopped primary is not replaced until MovePrimary
//	c.SetReplicaFault(replicaID, fakesf.ReplicaFault{Status: 503, Delay: time.Second, Count: 1})
//	c.SetReplicaFault(replicaID, fakesf.ReplicaFault{Status: 404, Header: map[string]string{"X-ServiceFabric": "ResourceNotFound"}})
//	c.SetReplicaFault(replicaID, fakesf.ReplicaFault{Drop: true})   // ReplicaFault{} clears
//
//	// counters
//	c.ResolveCalls(); c.PartitionResolveCalls(pid); c.ReplicaHits(replicaID); c.ResetCounters()
//
//	// a hung HTTP gateway node: accepts TCP, reads, never answers (list it before c.URL() to test failover)
//	s, err := fakesf.StartSilentEndpoint("127.0.0.1:0"); s.URL(); s.Accepted(); s.Close()
//
// Options: WithListenAddr, WithClusterVersion (default "8.2.1571.9590": api-versions up to 8.2 are accepted),
// WithTLS(serverCert) (GenerateCertificate makes one), WithClientCertThumbprints(sha1hex...),
// WithClientCertCommonNames(cn...) (a valid certificate with that subject CN), WithBearerToken(func(token) error)
// (SignedBy(publicKey, audience, tenant) verifies the signature and SF's AAD claims; ExpectAudience checks the
// claims only; ParsePublicKeyPEM reads a key; Thumbprint computes SF's SHA-1 thumbprint of a certificate),
// WithAADMetadata, WithNamingCache, WithManagementObserver(func(ManagementEvent)) (each management request with
// its client certificate's thumbprint). A certificate rollover: c.SetServerCertificate(cert) (new connections get
// it; idle ones are closed), c.SetClientCertThumbprints(sha1hex...). Start's ctx bounds the cluster's life:
// when it is done the cluster closes. Close closes every listener and connection and waits for every goroutine.
//
// # Management API (SF's paths, shapes, enums, errors)
//
//	GET  /  (and /Explorer, /Explorer/index.html)        200 text/html: a live page of the topology and recent
//	                                                      faults (what `sfctl cluster select` needs: a 2xx at /)
//	GET  /Applications                                   (api-version >= 6.1; ContinuationToken, MaxResults)
//	GET  /Applications/{appId}                           (204 when absent)
//	GET  /Applications/{appId}/$/GetServices             (MaxResults from 6.4)
//	GET  /Applications/{appId}/$/GetServices/{serviceId} (204 when absent)
//	GET  /Applications/{appId}/$/GetServices/{serviceId}/$/GetPartitions and .../$/ResolvePartition (aliases)
//	GET  /Services/{serviceId}/$/GetPartitions            (>= 6.4; ContinuationToken, MaxResults)
//	GET  /Services/{serviceId}/$/GetDescription
//	GET  /Services/{serviceId}/$/GetApplicationName
//	GET  /Services/{serviceId}/$/ResolvePartition         (PartitionKeyType 1|2|3, PartitionKeyValue,
//	                                                      PreviousRspVersion, timeout)
//	GET  /Partitions/{partitionId}                        (204 when absent)
//	GET  /Partitions/{partitionId}/$/GetReplicas[/{replicaId}]
//	GET  /Partitions/{partitionId}/$/GetServiceName
//	GET  /Nodes[/{nodeName}]                              (GET /Nodes >= 6.3)
//	GET  /$/GetClusterVersion                             (>= 6.4)
//	GET  /$/GetClusterManifest, /$/GetUpgradeProgress     (generated from the nodes; never upgrading)
//	GET  /$/GetAadMetadata                                (anonymous)
//	GET  /ApplicationTypes[/{typeName}]                   (ApplicationTypeVersion, paging, ExcludeApplicationParameters)
//	GET  /ApplicationTypes/{typeName}/$/GetServiceTypes[/{serviceTypeName}]   (ApplicationTypeVersion)
//	GET  /ApplicationTypes/{typeName}/$/GetApplicationManifest, .../$/GetServiceManifest (ServiceManifestName)
//	POST /Applications/$/Create                           (ApplicationDescription body) → 201
//	POST /Applications/{appId}/$/Delete                   (ForceRemove) → 200: its services go with it
//	POST /Applications/{appId}/$/GetServices/$/Create     (ServiceDescription body) → 202
//	POST /Services/{serviceId}/$/Update                   (ServiceUpdateDescription: replica/instance counts) → 200
//	POST /Services/{serviceId}/$/Delete                   (ForceRemove) → 200
//	POST /Partitions/{partitionId}/$/MovePrimaryReplica   (>= 6.5; NodeName, IgnoreConstraints) → 200; to the node
//	                                                      already holding it: 409 FABRIC_E_PRIMARY_ALREADY_EXISTS
//	POST /Nodes/{nodeName}/$/GetPartitions/{partitionId}/$/GetReplicas/{replicaId}/$/Restart → 200
//	POST /Partitions/{partitionId}/$/MoveSecondaryReplica (>= 6.5; CurrentNodeName, NewNodeName) → 200
//	POST /Services/{serviceId}/$/GetPartitions/{partitionId}/$/MoveInstance  (>= 8.0; CurrentNodeName, NewNodeName)
//	POST /Nodes/{nodeName}/$/GetPartitions/{partitionId}/$/GetReplicas/{replicaId}/$/Delete  (ForceRemove) → 200
//	POST /Nodes/{nodeName}/$/Restart                      (RestartNodeDescription body; NodeInstanceId "0" = any)
//	POST /Faults/Nodes/{nodeName}/$/StartTransition/      (OperationId, NodeTransitionType Start|Stop,
//	                                                      NodeInstanceId, StopDurationInSeconds 600..14400) → 202
//	GET  /Faults/Nodes/{nodeName}/$/GetTransitionProgress (OperationId)
//	POST /Faults/Services/{serviceId}/$/GetPartitions/{partitionId}/$/StartRestart     (OperationId,
//	                                                      RestartPartitionMode) → 202; GetRestartProgress
//	POST .../$/StartDataLoss   (OperationId, DataLossMode) → 202; GetDataLossProgress
//	POST .../$/StartQuorumLoss (OperationId, QuorumLossMode, QuorumLossDuration) → 202; GetQuorumLossProgress
//	GET  /Faults/                                         (TypeFilter, StateFilter: OperationStatus list)
//	POST /Faults/$/Cancel                                 (OperationId, Force)
//
// Fault operations: restart, data loss and node transitions are applied before the 202 (progress: Completed); a
// quorum loss takes secondaries down for QuorumLossDuration (progress Running, then Completed) and can be
// cancelled (Force=false; Force=true first is FABRIC_E_INVALID_TEST_COMMAND_STATE). An unknown or finished
// OperationId is 404 FABRIC_E_KEY_NOT_FOUND where SF says so, a reused one 409
// FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS. Moves rebuild the replica on the target node with a new ID;
// a target that already holds one is 409 FABRIC_E_PRIMARY_/SECONDARY_/INSTANCE_ALREADY_EXISTS. Status codes
// follow SF's error-to-HTTP table (e.g. FABRIC_E_INSTANCE_ID_MISMATCH 409, FABRIC_E_NODE_IS_DOWN 400).
//
//	GET  /$/GetClusterHealth                              (NodesHealthStateFilter, ApplicationsHealthStateFilter,
//	                                                      EventsHealthStateFilter, ExcludeHealthStatistics)
//	GET  /Nodes/{n}/$/GetHealth, /Applications/{a}/$/GetHealth, /Services/{s}/$/GetHealth,
//	     /Partitions/{p}/$/GetHealth, /Partitions/{p}/$/GetReplicas/{r}/$/GetHealth  (their *HealthStateFilter)
//	POST /$/ReportClusterHealth and .../$/ReportHealth on each of those entities (HealthInformation body) → 200
//
// Health: each entity's events are its ReportHealth reports (keyed by SourceId and Property; an older
// SequenceNumber is FABRIC_E_HEALTH_STALE_REPORT; TimeToLive and RemoveWhenExpired as in SF) plus one system event
// that follows the fake's state: a stopped node (System.FM) and a replica fakesf has taken down (System.RA) are
// Error, a partition below its target replica count is Warning and one without a primary Error. Aggregated health is
// the worst of an entity's events and its children's (SF's default policy), with SF's UnhealthyEvaluations and
// HealthStatistics; the HealthState of the query answers (GetReplicas, GetNodes, ...) is that aggregated state.
//
// Service and application IDs take SF's "~" form (Shop~Orders) or the raw "/" form (Shop/Orders); path segments
// are case-sensitive. The query is read as SF reads it: raw split on & and then =, empty tokens skipped, a piece
// kept only if that leaves exactly a name and a value ("a=" and "a=b=c" are dropped, "a==b" is a=b), first
// occurrence wins, no percent-decoding (PreviousRspVersion is unescaped once and JSON-parsed; ContinuationToken
// is compared verbatim), so a Version sent back verbatim works. api-version is required: "-preview" is stripped,
// then it must be a number between the operation's minimum (the swagger's pinned value) and the runtime's
// major.minor; otherwise 400 E_INVALIDARG. (A real runtime's routes mostly accept versions down to 1.0 and answer
// them in legacy shapes: bare arrays below 2.0, numeric enums below 3.0, '/' IDs below 6.0. The fake does not
// produce those shapes, so it rejects such versions instead; a client that works here works there.) As in SF, a URL that matches no operation (wrong template, wrong
// method, bad api-version) is 400 E_INVALIDARG, also before any credential check; there is no 405. Errors are
// {"Error":{"Code":...,"Message":...}} with SF's status codes (the reason phrase is Go's standard one, not the
// code); authentication failures are 403 with an empty body. Responses carry
// "Content-Type: application/json; charset=utf-8" and "X-Content-Type-Options: nosniff", with '/' written as
// '\/' as SF's JSON writer does.
//
// Versions: each partition's Version is SF's escaped JSON
// {"PartitionId":..,"FMVersion":..,"StoreVersion":..,"GenerationNumber":{"Generation":..,"NodeId":{"Id":..}}};
// FMVersion is cluster-wide and grows with every reconfiguration (primary move, replica restart, node stop or
// start), so a newer answer always compares newer by (Generation, FMVersion).
//
// # Replicas
//
// RestartReplica (stateful only, as in SF) reopens the replica's listeners on new ports; a restarted primary fails
// over to a secondary first. StopNode (StartTransition Stop) closes every listener on the node, marks its replicas
// Down and promotes a live secondary wherever the primary was there; StartNode brings them back as secondaries with
// a new node instance ID (StopDurationInSeconds later the node also comes back by itself).
//
// Each open listener is an HTTP server on the replica's node IP with its own port. It answers any method and path
// with 200 (or the ReplicaFault status) and a JSON ReplicaResponse: service, partitionId, replicaId, role
// (primary|secondary|stateless), node, listener, method, path, query, host, headers, bodyLength, bodySha256 and
// body (first 64 KiB; bodyLength and bodySha256 cover the whole body, chunked or not). path and query are the
// request target's bytes exactly as sent (percent-encoding, case of hex digits and raw bytes untouched). Published Address: {"Endpoints":{"":"http:\/\/127.0.0.2:PORT\/<partitionId>\/<replicaId>"}}
// (one entry per listener), or "" when the replica's listeners are closed. Stateful listeners open on the
// primary only unless the service sets listenOnSecondary; a demoted primary's listeners close together with their
// open connections, so clients get connection refused.
//
// # Fake-only control API (/_fake, no credentials needed)
//
//	GET    /_fake/state                                   nodes, services, partitions, replicas, URLs, Versions,
//	                                                      health of nodes and partitions, events (recent faults, oldest first)
//	GET    /_fake/counters                                {"resolveCalls":N,"partitions":{pid:{"plain":..,"withPrevious":..}},"replicaHits":{rid:N}}
//	POST   /_fake/counters/reset
//	POST   /_fake/naming/delay?duration=250ms
//	POST   /_fake/naming/fault?status=503&code=FABRIC_E_SERVICE_OFFLINE[&count=N][&all=true]
//	POST   /_fake/naming/fault?drop=true[&count=N]        close the connection without an answer
//	DELETE /_fake/naming/fault
//	POST   /_fake/naming/cache?stale=true[&maxAge=5s]     stale naming-gateway cache on/off
//	POST   /_fake/failover?auto=false                     automatic failover off/on
//	POST   /_fake/paging?pageSize=2                       paged lists answer at most 2 items per call (0: no limit)
//	POST   /_fake/replicas/{replicaId}/fault?status=503&delay=1s&drop=true&cutAnswerAfter=N&count=N&header=Name:Value
//	DELETE /_fake/replicas/{replicaId}/fault
//	POST   /_fake/replicas/{replicaId}/events?data=text     one event on the replica's event-stream answers
//	DELETE /_fake/replicas/{replicaId}/events               end them
//
// # Topology YAML
//
// Unknown fields, wrong types, anchors/aliases and inconsistent values are errors naming the line, column and
// field. Example (this is DefaultTopology, less the Catalog application):
//
//	nodes:                       # each node gets its own loopback IP
//	  - {name: _Node_0, ip: 127.0.0.2}
//	  - {name: _Node_1, ip: 127.0.0.3}
//	  - {name: _Node_2, ip: 127.0.0.4, type: NodeType0}
//	  - {name: _Node_3}            # ip defaults to 127.0.0.(2+index)
//	  - {name: _Node_4}
//	applications:
//	  - name: fabric:/Shop
//	    typeName: ShopType         # default: last name segment + "Type"
//	    typeVersion: 1.0.0         # default 1.0.0
//	    parameters: {Web_InstanceCount: "3"}
//	    services:
//	      - name: fabric:/Shop/Orders
//	        kind: Stateful          # Stateful | Stateless
//	        scheme: Int64Range      # Singleton | Int64Range (or UniformInt64Range) | Named
//	        partitions: 4           # SF's split of [lowKey, highKey]: 256 keys each (leftover keys, if any,
//	                                #   one each to the first partitions: 0..33 in 4 is 0..8 9..17 18..25 26..33)
//	        lowKey: 0
//	        highKey: 1023
//	        replicas: 3             # target replica set size; at most one replica per node
//	        minReplicas: 2          # default replicas/2+1
//	        hasPersistedState: true
//	      - name: fabric:/Shop/Carts
//	        kind: Stateful
//	        scheme: Named
//	        names: [eu, us, asia]
//	        replicas: 3
//	        listenOnSecondary: true # secondaries publish and open their listeners too
//	      - name: fabric:/Shop/Web
//	        kind: Stateless
//	        scheme: Singleton
//	        instances: 3            # or -1: one per node
//	        listeners: ["", Admin]  # default [""]
//	        extensions:             # the service type's <Extensions> in its service manifest
//	          sfgate: {sfgate.enable: "true", sfgate.listener: Admin}
//
// Application types: every application's type (typeName, typeVersion) is registered with one service type per
// distinct service typeName (its kind, hasPersistedState, listeners, extensions), so GET /ApplicationTypes lists it and
// CreateService can make more services of those types. Types no application uses yet are declared apart; an
// application of a declared type takes its services' listeners and extensions from the type's service types:
//
//	applicationTypes:
//	  - name: ToolsType
//	    version: 2.0.0
//	    parameters: {Cache_Size: "10"}   # default application parameters
//	    serviceTypes:
//	      - {name: CacheType, kind: Stateful, hasPersistedState: true, listeners: ["", Admin], listenOnSecondary: true}
//	      - {name: ApiType, kind: Stateless}          # listeners default to [""]
//
// A service has at most MaxPartitions partitions; a topology file at most 1 MiB.
//
// Placement: replica j of the k-th partition in the cluster goes to node (k+j) mod len(nodes); replica 0 starts
// as primary. Partition IDs are derived from the service name and partition index, so they are stable across runs.
package fakesf
