import subprocess
import sys


def test_cli_and_settings_do_not_import_heavy_deps():
    code = ("import sys, shopsense.settings, shopsense.cli, shopsense.cli.recommend, shopsense.recommend;"
            "from shopsense.recommend import HybridRecommender, load_recommender;"
            "print(sorted(m for m in ('torch', 'implicit', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
