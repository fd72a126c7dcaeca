"""The Ray node table, read from the head's GCS, as JSON on stdout: one object per node."""
import json
import sys

from ray._raylet import GcsClient

STATES = {0: "ALIVE", 1: "DEAD"}

client = GcsClient(address=sys.argv[1])
nodes = []
for info in client.get_all_node_info(timeout=10).values():
    nodes.append(
        {
            "nodeId": info.node_id.hex(),
            "state": STATES.get(info.state, str(info.state)),
            "instanceId": info.instance_id,
            "ip": info.node_manager_address,
            "nodeType": info.node_type_name,
        }
    )
print(json.dumps(nodes))
