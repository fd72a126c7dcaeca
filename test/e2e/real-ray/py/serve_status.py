"""Serve's applications as the head's dashboard reports them, with each replica's node, as JSON."""
import json
import sys
import urllib.request

with urllib.request.urlopen(f"http://{sys.argv[1]}/api/serve/applications/", timeout=10) as res:
    apps = json.load(res)["applications"]
out = {}
for name, app in apps.items():
    deployments = {}
    for dep_name, dep in (app.get("deployments") or {}).items():
        deployments[dep_name] = {
            "status": dep.get("status"),
            "replicas": [{"state": r.get("state"), "nodeId": r.get("node_id"), "nodeIp": r.get("node_ip")} for r in dep.get("replicas") or []],
        }
    out[name] = {"status": app.get("status"), "deployments": deployments}
print(json.dumps(out))
