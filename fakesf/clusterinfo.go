package fakesf

import (
	"encoding/xml"
	"strconv"
)

// Cluster-level information scripts read to see that a cluster is settled: the cluster manifest (generated from the
// topology's nodes) and the cluster upgrade progress (never upgrading: every upgrade domain completed).

type clusterManifestXML struct {
	XMLName   xml.Name `xml:"ClusterManifest"`
	Xmlns     string   `xml:"xmlns,attr"`
	Name      string   `xml:"Name,attr"`
	Version   string   `xml:"Version,attr"`
	NodeTypes []struct {
		Name string `xml:"Name,attr"`
	} `xml:"NodeTypes>NodeType"`
	Nodes []manifestNodeXML `xml:"Infrastructure>Linux>NodeList>Node"`
}

type manifestNodeXML struct {
	NodeName        string `xml:"NodeName,attr"`
	IPAddressOrFQDN string `xml:"IPAddressOrFQDN,attr"`
	IsSeedNode      bool   `xml:"IsSeedNode,attr"`
	NodeTypeRef     string `xml:"NodeTypeRef,attr"`
	FaultDomain     string `xml:"FaultDomain,attr"`
	UpgradeDomain   string `xml:"UpgradeDomain,attr"`
}

// getClusterManifest serves GET /$/GetClusterManifest: the nodes with the seed, fault and upgrade domain values
// GET /Nodes reports.
func (c *Cluster) getClusterManifest(*request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := clusterManifestXML{Xmlns: manifestNS, Name: "fakesf", Version: "1.0"}
	seen := map[string]bool{}
	for i, n := range c.nodes {
		info := c.nodeInfo(n, i)
		if !seen[n.Type] {
			seen[n.Type] = true
			m.NodeTypes = append(m.NodeTypes, struct {
				Name string `xml:"Name,attr"`
			}{n.Type})
		}
		m.Nodes = append(m.Nodes, manifestNodeXML{NodeName: n.Name, IPAddressOrFQDN: n.IP, IsSeedNode: info.IsSeedNode,
			NodeTypeRef: n.Type, FaultDomain: info.FaultDomain, UpgradeDomain: info.UpgradeDomain})
	}
	return ok(map[string]string{"Manifest": marshalManifest(m)})
}

// getUpgradeProgress serves GET /$/GetUpgradeProgress for a cluster that is not upgrading: the last upgrade rolled
// forward to the running version, every upgrade domain completed.
func (c *Cluster) getUpgradeProgress(*request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	type domain struct {
		Name  string `json:"Name"`
		State string `json:"State"`
	}
	domains := make([]domain, 0, len(c.nodes))
	for i := range c.nodes {
		domains = append(domains, domain{Name: strconv.Itoa(i), State: "Completed"})
	}
	return ok(map[string]any{
		"CodeVersion": c.cfg.clusterVersion, "ConfigVersion": "1.0", "UpgradeDomains": domains,
		"UpgradeState": "RollingForwardCompleted", "NextUpgradeDomain": "", "RollingUpgradeMode": "UnmonitoredAuto",
		"UnhealthyEvaluations": []any{}, "FailureReason": "None", "IsNodeByNode": false,
	})
}
