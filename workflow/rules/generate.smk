# Stage 4: decode each evaluation split with a trained run (batched beam search, deduplicated
# sources, one line per official scoring unit).


rule generate_outputs:
    input:
        weights="results/runs/{experiment}/{run}/trained.safetensors",
        record="results/runs/{experiment}/{run}/run.json",
        units=lambda wc: f"results/data/{get_run(wc).spec.dataset}/{wc.split}.eval.jsonl",
    output:
        predictions="results/runs/{experiment}/{run}/predictions/{split}.txt",
        info="results/runs/{experiment}/{run}/predictions/{split}.json",
    log:
        "results/logs/generate_outputs/{experiment}/{run}/{split}.log",
    benchmark:
        "results/benchmarks/generate_outputs/{experiment}/{run}/{split}.tsv"
    retries: 1
    conda:
        "../envs/train.yaml"
    threads: run_threads
    resources:
        gpu=run_gpus,
        gpu_mem_mb=run_gpu_mem_mb,
        gpu_slots=SLOTS_PER_GPU,
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    params:
        device=run_device,
        generate=run_generate_json,
    shell:
        "OMP_NUM_THREADS={threads} python -m prefix_bench.cli with-device --device {params.device} "
        "--job-mem-mb {resources.gpu_mem_mb} --slots-per-device {resources.gpu_slots} -- "
        "python -m prefix_bench.cli generate --generate-json {params.generate:q} "
        "--run-dir results/runs/{wildcards.experiment}/{wildcards.run} "
        "--eval-jsonl {input.units} --out {output.predictions} > {log} 2>&1"


# Pooled decoding (config `packing`): the members of a training pack that decode a split under the
# same settings do it in one job over one frozen LM, each row under its own run's prefix, and write
# each run's own predictions and record (common.smk DECODE_PACKS, prefix_bench/generate_packed.py).
for pack in DECODE_PACKS:

    rule:
        name:
            f"generate_{pack.id}"
        input:
            trained_files(pack),
            units=decode_pack_units(pack),
        output:
            decode_pack_outputs(pack),
        log:
            f"results/logs/generate_pack/{pack.experiment}/{pack.id}.log",
        benchmark:
            f"results/benchmarks/generate_pack/{pack.experiment}/{pack.id}.tsv"
        retries: 1
        conda:
            "../envs/train.yaml"
        threads: threads_of(RUN_BY_ID[pack.runs[0]])
        resources:
            **placement_of("generate_outputs"),
            gpu=gpus_of(RUN_BY_ID[pack.runs[0]]),
            gpu_mem_mb=pack_gpu_mem_mb(pack),
            gpu_slots=SLOTS_PER_GPU,
            mem_mb=lambda wc, attempt: 8000 * attempt,
            runtime=lambda wc, attempt: 240 * attempt,
        params:
            device=RUN_BY_ID[pack.runs[0]].spec.train.device,
            generate=generate_json_of(RUN_BY_ID[pack.runs[0]]),
            members=decode_pack_args(pack),
        shell:
            "OMP_NUM_THREADS={threads} python -m prefix_bench.cli with-device --device {params.device} "
            "--job-mem-mb {resources.gpu_mem_mb} --slots-per-device {resources.gpu_slots} -- "
            "python -m prefix_bench.cli generate-pack --generate-json {params.generate:q} "
            "--eval-jsonl {input.units} {params.members} > {log} 2>&1"

    # the pack makes these runs' predictions, not generate_outputs
    workflow.ruleorder(f"generate_{pack.id}", "generate_outputs")
