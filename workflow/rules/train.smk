# Stage 3: train one run. Only the trained tensors and the run record are outputs; the resumable
# checkpoint in the run directory survives a kill and is picked up by the rerun.


rule train_run:
    input:
        unpack(train_inputs),
    output:
        weights="results/runs/{experiment}/{run}/trained.safetensors",
        record="results/runs/{experiment}/{run}/run.json",
    log:
        "results/logs/train_run/{experiment}/{run}.log",
    benchmark:
        "results/benchmarks/train_run/{experiment}/{run}.tsv"
    # A retry resumes from the run's checkpoint with twice the memory and time (OOM, time limit,
    # preemption); a config error fails the same way twice.
    retries: 1
    conda:
        "../envs/train.yaml"
    threads: run_threads
    resources:
        gpu=run_gpus,
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=lambda wc, attempt: 720 * attempt,
    params:
        device=run_device,
        spec=run_spec_json,
        data=lambda wc: f"results/data/{get_run(wc).spec.dataset}",
    shell:
        "OMP_NUM_THREADS={threads} python -m prefix_bench.cli with-device --device {params.device} -- "
        "python -m prefix_bench.cli train --spec-json {params.spec:q} "
        "--data-dir {params.data} --out-dir results/runs/{wildcards.experiment}/{wildcards.run} "
        "> {log} 2>&1"
