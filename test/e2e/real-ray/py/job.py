"""Ray jobs through the head's dashboard (its job API), as JSON on stdout.

    job.py submit <dashboard host:port> <entrypoint> [dir] -> {"id": ...}  (dir: uploaded as its working_dir)
    job.py status <dashboard host:port> <id>              -> {"status": ..., "logs": ...}
    job.py stop   <dashboard host:port> <id>              -> {"stopped": true|false}
"""
import json
import sys

from ray.job_submission import JobSubmissionClient

verb, dashboard = sys.argv[1], sys.argv[2]
client = JobSubmissionClient(f"http://{dashboard}")
if verb == "submit":
    runtime_env = {"working_dir": sys.argv[4]} if len(sys.argv) > 4 else None
    print(json.dumps({"id": client.submit_job(entrypoint=sys.argv[3], runtime_env=runtime_env)}))
elif verb == "status":
    job = sys.argv[3]
    print(json.dumps({"status": str(client.get_job_status(job).value), "logs": client.get_job_logs(job)}))
elif verb == "stop":
    print(json.dumps({"stopped": client.stop_job(sys.argv[3])}))
else:
    sys.exit(f"unknown verb {verb}")
