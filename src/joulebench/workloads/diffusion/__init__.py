"""Text-to-video diffusion workloads on the real diffusers models (random weights or a local folder).

* ``build``: components and full pipelines from a `models.video.VideoSpec`, the model cache;
* ``point``: `VideoPoint` (one validated configuration); ``run``: `run_video_point`, the per-point function;
* ``phases``: one denoising step, VAE decode and text encoding in repeated windows (calibration input);
* ``pipeline`` / ``pipeline_point``: windows inside the real pipeline call, the full run predicted from
  a few of its steps.
"""
