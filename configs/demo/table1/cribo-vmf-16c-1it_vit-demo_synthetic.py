# Table 1 ladder at demo size, row 3: + many clusters, 1 Sinkhorn iteration (the paper's 128 of 392 tokens,
# scaled as S3PT's demo config: 16 of 72), no depth term, S3PT's queue (100 images). Row 4 (+ depth weight
# 4) is configs/demo/s3pt_vit-demo_synthetic.py.
_base_ = ['./cribo-vmf_vit-demo_synthetic.py']
model = dict(clustering=dict(num_clusters=16, num_iters=1), queue_size=100)
