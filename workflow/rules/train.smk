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
        gpu_mem_mb=run_gpu_mem_mb,
        gpu_slots=SLOTS_PER_GPU,
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=lambda wc, attempt: 720 * attempt,
    params:
        device=run_device,
        spec=run_spec_json,
        data=lambda wc: f"results/data/{get_run(wc).spec.dataset}",
    shell:
        "OMP_NUM_THREADS={threads} python -m prefix_bench.cli with-device --device {params.device} "
        "--job-mem-mb {resources.gpu_mem_mb} --slots-per-device {resources.gpu_slots} -- "
        "python -m prefix_bench.cli train --spec-json {params.spec:q} "
        "--data-dir {params.data} --out-dir results/runs/{wildcards.experiment}/{wildcards.run} "
        "> {log} 2>&1"


# Packed training (config `packing.max_runs` > 1): the prefix-tuning runs of each pack (common.smk
# PACKS, prefix_bench/packing.py) train in one job over one frozen LM and write each run's own
# outputs, so everything downstream reads them as it reads train_run's. One rule per pack.
for pack in PACKS:

    rule:
        name:
            f"train_{pack.id}"
        input:
            pack_inputs(pack),
        output:
            trained_files(pack),
        log:
            f"results/logs/train_pack/{pack.experiment}/{pack.id}.log",
        benchmark:
            f"results/benchmarks/train_pack/{pack.experiment}/{pack.id}.tsv"
        retries: 1
        conda:
            "../envs/train.yaml"
        threads: threads_of(RUN_BY_ID[pack.runs[0]])
        resources:
            **placement_of("train_run"),
            gpu=gpus_of(RUN_BY_ID[pack.runs[0]]),
            gpu_mem_mb=pack_gpu_mem_mb(pack),
            gpu_slots=SLOTS_PER_GPU,
            mem_mb=lambda wc, attempt: 16000 * attempt,
            # the pack takes about as long as its longest member (GPU figures: 8 runs in 1.5x one)
            runtime=lambda wc, attempt: 1440 * attempt,
        params:
            device=RUN_BY_ID[pack.runs[0]].spec.train.device,
            members=pack_members_json(pack),
        shell:
            "OMP_NUM_THREADS={threads} python -m prefix_bench.cli with-device --device {params.device} "
            "--job-mem-mb {resources.gpu_mem_mb} --slots-per-device {resources.gpu_slots} -- "
            "python -m prefix_bench.cli train-pack --members-json {params.members:q} > {log} 2>&1"

    # the pack makes these runs' outputs, not train_run
    workflow.ruleorder(f"train_{pack.id}", "train_run")
