package resolver

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// Service manifests, for the reverse proxy's opt-in discovery (docs/reverse-proxy.md): a service type's
// manifest is found through its application type (GetServiceTypes names the manifest) and read with
// GetServiceManifest; its <Extensions> carry labels, as service-fabric-yarp and Traefik read them. Both
// answers belong to a provisioned application type version, which never changes, so a caller may keep them.

// ServiceTypes returns the service manifest name of each service type of application type appType at
// version: GET /ApplicationTypes/{appType}/$/GetServiceTypes?ApplicationTypeVersion=.
func (r *Resolver) ServiceTypes(ctx context.Context, appType, version string) (map[string]string, error) {
	if err := checkRawQueryValue("ApplicationTypeVersion", version); err != nil {
		return nil, err
	}
	c := r.client
	body, err := c.get(ctx, "GetServiceTypeInfoList", "/ApplicationTypes/"+url.PathEscape(appType)+"/$/GetServiceTypes",
		"api-version="+getServiceTypesAPIVersion+"&ApplicationTypeVersion="+version+c.timeoutParam())
	if err != nil {
		return nil, err
	}
	return decodeServiceTypes(body)
}

type wireServiceTypeInfo struct {
	ServiceTypeDescription struct {
		ServiceTypeName string
	}
	ServiceManifestName string
}

// decodeServiceTypes reads GetServiceTypes' answer: a list of ServiceTypeInfo.
func decodeServiceTypes(body []byte) (map[string]string, error) {
	var w []wireServiceTypeInfo
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode ServiceTypeInfo list: %w", err)
	}
	out := make(map[string]string, len(w))
	for i, st := range w {
		name := st.ServiceTypeDescription.ServiceTypeName
		if name == "" || st.ServiceManifestName == "" {
			return nil, fmt.Errorf("decode ServiceTypeInfo list: [%d] has no ServiceTypeName or no ServiceManifestName", i)
		}
		out[name] = st.ServiceManifestName
	}
	return out, nil
}

// ServiceManifest reads and parses service manifest manifest of application type appType at version: GET
// /ApplicationTypes/{appType}/$/GetServiceManifest?ApplicationTypeVersion=&ServiceManifestName=.
func (r *Resolver) ServiceManifest(ctx context.Context, appType, version, manifest string) (*ServiceManifest, error) {
	if err := checkRawQueryValue("ApplicationTypeVersion", version); err != nil {
		return nil, err
	}
	if err := checkRawQueryValue("ServiceManifestName", manifest); err != nil {
		return nil, err
	}
	c := r.client
	body, err := c.get(ctx, "GetServiceManifest", "/ApplicationTypes/"+url.PathEscape(appType)+"/$/GetServiceManifest",
		"api-version="+getManifestAPIVersion+"&ApplicationTypeVersion="+version+"&ServiceManifestName="+manifest+c.timeoutParam())
	if err != nil {
		return nil, err
	}
	var w struct{ Manifest string }
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode ServiceTypeManifest: %w", err)
	}
	m, err := ParseServiceManifest([]byte(w.Manifest))
	if err != nil {
		return nil, fmt.Errorf("service manifest %s of %s %s: %w", manifest, appType, version, err)
	}
	return m, nil
}

// ServiceManifest is what discovery reads of a service manifest: its name and, per service type it declares,
// the extensions.
type ServiceManifest struct {
	Name         string
	ServiceTypes map[string][]Extension // by ServiceTypeName
}

// Extension is one <Extension Name="..."> of a service type, with the <Label Key="...">value</Label> elements
// of its <Labels>, in document order (a key may repeat: the reader decides what that means).
type Extension struct {
	Name   string
	Labels []Label
}

// Label is one label of an extension.
type Label struct {
	Key, Value string
}

type xmlServiceManifest struct {
	XMLName      xml.Name
	Name         string `xml:"Name,attr"`
	ServiceTypes struct {
		Types []struct {
			XMLName    xml.Name
			TypeName   *string `xml:"ServiceTypeName,attr"`
			Extensions []struct {
				Name   string `xml:"Name,attr"`
				Labels []struct {
					Label []struct {
						Key   *string `xml:"Key,attr"`
						Value string  `xml:",chardata"`
					} `xml:"Label"`
				} `xml:"Labels"`
			} `xml:"Extensions>Extension"`
		} `xml:",any"`
	} `xml:"ServiceTypes"`
}

// ParseServiceManifest reads a service manifest's XML (SF's ServiceManifest schema): the root element
// ServiceManifest, and each element under ServiceTypes that has a ServiceTypeName (StatelessServiceType,
// StatefulServiceType, the service group types) with its Extensions. Namespaces are not checked; other
// elements are skipped. Bad XML, a service type declared twice, a Label without Key or an Extension without
// Name are errors.
func ParseServiceManifest(data []byte) (*ServiceManifest, error) {
	var w xmlServiceManifest
	d := xml.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&w); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the service manifest is empty")
		}
		return nil, fmt.Errorf("the service manifest is not XML SF can read: %w", err)
	}
	if w.XMLName.Local != "ServiceManifest" {
		return nil, fmt.Errorf("the root element is <%s>, not <ServiceManifest>", w.XMLName.Local)
	}
	m := &ServiceManifest{Name: w.Name, ServiceTypes: make(map[string][]Extension, len(w.ServiceTypes.Types))}
	for _, t := range w.ServiceTypes.Types {
		if t.TypeName == nil {
			continue // not a service type (SF's schema has none such, but a later one may)
		}
		name := *t.TypeName
		if name == "" {
			return nil, fmt.Errorf("<%s> has an empty ServiceTypeName", t.XMLName.Local)
		}
		if _, dup := m.ServiceTypes[name]; dup {
			return nil, fmt.Errorf("service type %q is declared twice", name)
		}
		exts := make([]Extension, 0, len(t.Extensions))
		for _, e := range t.Extensions {
			if e.Name == "" {
				return nil, fmt.Errorf("service type %q: an <Extension> has no Name", name)
			}
			x := Extension{Name: e.Name}
			for _, ls := range e.Labels {
				for _, l := range ls.Label {
					if l.Key == nil {
						return nil, fmt.Errorf("service type %q, extension %q: a <Label> has no Key", name, e.Name)
					}
					x.Labels = append(x.Labels, Label{Key: *l.Key, Value: l.Value})
				}
			}
			exts = append(exts, x)
		}
		m.ServiceTypes[name] = exts
	}
	return m, nil
}
