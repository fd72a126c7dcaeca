"""A Ray job that needs 2 GPU workers: two actors of one GPU each. It prints the pod each runs on,
then holds the GPUs until the job is stopped."""
import os
import time

import ray

ray.init()


@ray.remote(num_gpus=1)
class OnGpu:
    def pod(self) -> str:
        return os.environ.get("RAY_CLOUD_INSTANCE_ID", "")


actors = [OnGpu.remote() for _ in range(2)]
print("GPU actors on pods:", " ".join(sorted(ray.get([a.pod.remote() for a in actors]))), flush=True)
while True:
    time.sleep(1)
